"""The library runs without pytest: no module of ``receipt_compaction`` imports pytest or the plugin."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import receipt_compaction

# Every module of the library imported in a fresh interpreter in which pytest, the plugin and pluggy cannot
# be imported at all, whether or not they are installed.
PROBE = """
import importlib, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pytest", "_pytest", "pytest_receipt_compaction", "pluggy"}:
            raise ImportError(f"the library imported {name}")
        return None

sys.meta_path.insert(0, Block())
for name in sys.argv[1:]:
    importlib.import_module(name)
print(len(sys.argv) - 1)
"""


def library_modules() -> list[str]:
    """Every module of the library but ``__main__`` ones: importing those runs their program (the CLI)."""
    return sorted(
        module.name
        for module in pkgutil.walk_packages(receipt_compaction.__path__, prefix="receipt_compaction.")
        if module.name.rsplit(".", 1)[-1] != "__main__"
    )


def test_every_library_module_imports_without_pytest_or_the_plugin() -> None:
    modules = library_modules()
    assert "receipt_compaction.harness.scenarios.runner" in modules  # the engine is in the library
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(len(modules))
