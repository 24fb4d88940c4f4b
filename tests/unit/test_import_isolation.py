"""The stream stage is a light zip Lambda: it must import without chromadb or numpy."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter in which importing chromadb or numpy fails loudly, whether or not they are installed.
PROBE = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"chromadb", "numpy"}:
            raise ImportError(f"the stream stage imported {name}")
        return None

sys.meta_path.insert(0, Block())
import receipt_compaction.stream, receipt_compaction.handlers.stream_processor, receipt_compaction.entities
assert not {"chromadb", "numpy"} & set(sys.modules)
print("light")
"""


def test_stream_stage_imports_without_chromadb_or_numpy() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "light"
