"""Delta reads: what reading one delta costs now (a child forked from the long-lived reader process), what it
cost before (a fresh interpreter per delta: start, ``import chromadb``, read), and the same read done in
this process with no isolation at all (the floor). A delta is one run's words: a Chroma directory with a
real HNSW index. Every read is of a copy made for it (untimed): in production each delta is read once, so
no read may profit from a cache another read of the same path left."""

from __future__ import annotations

import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import Row
from receipt_compaction.chroma_store import get_all, open_chroma, open_collection
from receipt_compaction.compaction.delta_reader import shutdown_reader
from receipt_compaction.compaction.deltas import read_delta

__all__ = ["measure_delta_reads"]

GOAL = 2.0
"""An isolated read at most twice an unisolated one."""

_FRESH_INTERPRETER = """
import json, sys
from receipt_compaction.chroma_store import get_all, open_chroma
with open_chroma(sys.argv[1]) as client:
    found = get_all(client.get_collection("words"), include=["embeddings", "documents", "metadatas"])
found["embeddings"] = [[float(x) for x in vector] for vector in found["embeddings"]]
with open(sys.argv[2], "w") as handle:
    json.dump(found, handle)
"""


def measure_delta_reads(scratch: Path, *, words: int, dimension: int, repeat: int) -> list[Row]:
    delta = _delta(scratch / "delta", words=words, dimension=dimension)
    shutdown_reader()
    started = time.perf_counter()
    read_delta(delta, "words")  # starts the reader: paid once per handler process
    cold = time.perf_counter() - started
    forked, fresh, inline = [], [], []
    copies = itertools.count()
    for _ in range(repeat):  # interleaved, so all three see the same noise from the shared machine
        forked.append(_time(lambda path: read_delta(path, "words"), _copy(delta, copies)))
        fresh.append(_time(lambda path: _fresh_interpreter(path, scratch), _copy(delta, copies)))
        inline.append(_time(_in_process, _copy(delta, copies)))
    shutdown_reader()
    ours, before, floor = (statistics.median(times) for times in (forked, fresh, inline))
    label = f"the same read in this process, unisolated ({words:,} words, dim {dimension})"
    return [
        Row(
            "P3",
            "delta read: child forked from the long-lived reader",
            ours,
            "s",
            floor,
            label,
            goal=GOAL,
            note=f"first read, starting the reader: {cold:.3f} s",
        ),
        Row("P3", "delta read before: a fresh interpreter per delta", before, "s", floor, label),
    ]


def _delta(root: Path, *, words: int, dimension: int) -> Path:
    with open_chroma(root) as client:
        collection = open_collection(client, "words")
        for start in range(0, words, 500):
            ids = [f"w{n:06d}" for n in range(start, min(words, start + 500))]
            collection.add(
                ids=ids,
                embeddings=[
                    [((n * 31 + d) % 97) / 97 + 0.01 for d in range(dimension)] for n in range(len(ids))
                ],  # type: ignore[arg-type]
                documents=ids,
                metadatas=[{"text": word, "image_id": "bench", "receipt_id": 1} for word in ids],
            )
    return root


def _fresh_interpreter(delta: Path, scratch: Path) -> None:
    with tempfile.TemporaryDirectory(dir=scratch) as out:
        subprocess.run(
            [sys.executable, "-c", _FRESH_INTERPRETER, str(delta), str(Path(out) / "records.json")],
            check=True,
            capture_output=True,
        )


def _in_process(delta: Path) -> None:
    with open_chroma(delta) as client:
        get_all(client.get_collection("words"), include=["embeddings", "documents", "metadatas"])


def _copy(delta: Path, copies: itertools.count[int]) -> Path:
    return Path(shutil.copytree(delta, delta.with_name(f"copy-{next(copies)}")))


def _time(work: Callable[[Path], object], path: Path) -> float:
    started = time.perf_counter()
    work(path)
    return time.perf_counter() - started
