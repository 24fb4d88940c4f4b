"""Opening a snapshot directory in a child process: a corrupt HNSW file can crash chromadb itself.

The child opens a private copy (opening a Chroma directory can write to it), prints the collection's count,
which sample ids it found and whether a stored vector finds itself through the index, as JSON, and exits;
a crash, a timeout or a wrong count is a clear error here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SnapshotVerificationError", "VerifyReport", "verify_snapshot"]

_CHILD = """
import json, sys
from receipt_compaction.chroma_store import open_chroma, open_collection
path, name, sample = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with open_chroma(path) as client:
    collection = open_collection(client, name)
    found = collection.get(ids=sample, include=[])["ids"] if sample else []
    nearest_ok = True
    probe = collection.get(limit=1, include=["embeddings"])
    if probe["ids"]:
        # a nearest-neighbour query reads the HNSW index itself, which count() and get() never touch
        hit = collection.query(query_embeddings=[probe["embeddings"][0]], n_results=1, include=["distances"])
        nearest_ok = bool(hit["distances"][0]) and hit["distances"][0][0] < 1e-3
    print(json.dumps({"count": collection.count(), "found": found, "nearest_ok": nearest_ok}))
"""


class SnapshotVerificationError(RuntimeError):
    """The snapshot directory does not open, does not open in time, or does not hold what it should (the
    message says which). A RuntimeError, so code that caught the plain RuntimeError of old still does."""


@dataclass(frozen=True)
class VerifyReport:
    count: int
    missing_ids: tuple[str, ...]


def verify_snapshot(
    path: Path,
    collection: str,
    *,
    expected_count: int | None = None,
    sample_ids: tuple[str, ...] = (),
    timeout: float = 120,
) -> VerifyReport:
    """Open ``path`` in a subprocess; raise SnapshotVerificationError naming the problem, or return what
    it found."""
    with tempfile.TemporaryDirectory(prefix="verify-") as scratch:
        copy = Path(scratch) / "chroma"
        shutil.copytree(path, copy)
        try:
            result = subprocess.run(
                [sys.executable, "-c", _CHILD, str(copy), collection, json.dumps(list(sample_ids))],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SnapshotVerificationError(
                f"opening the snapshot at {path} did not finish within {timeout:.0f} s"
            ) from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise SnapshotVerificationError(
            f"opening the snapshot at {path} failed (exit {result.returncode}): {last}"
        )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    report = VerifyReport(
        count=found["count"], missing_ids=tuple(sorted(set(sample_ids) - set(found["found"])))
    )
    if expected_count is not None and report.count != expected_count:
        raise SnapshotVerificationError(
            f"the snapshot at {path} holds {report.count} records, its manifest says {expected_count}"
        )
    if not found["nearest_ok"]:
        raise SnapshotVerificationError(
            f"the snapshot at {path} answers a query for a stored vector with another one"
        )
    if report.missing_ids:
        raise SnapshotVerificationError(f"the snapshot at {path} lacks ids {list(report.missing_ids)[:5]}")
    return report
