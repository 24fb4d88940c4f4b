"""The delta reader: one long-lived process per handler process forks a child per delta, so a read costs a
fork instead of an interpreter start plus ``import chromadb``, and a hostile delta still fails only itself."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

import pytest

from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.compaction.delta_reader import reader_pid, shutdown_reader
from receipt_compaction.compaction.deltas import DeltaError, DeltaLimits, read_delta

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def fresh_reader() -> Iterator[None]:
    shutdown_reader()
    yield
    shutdown_reader()


def chroma_dir(root: Path, *, count: int) -> Path:
    with open_chroma(root) as client:
        collection = open_collection(client, "words")
        ids = [f"w{n:05d}" for n in range(count)]
        vectors = [[float((n * 7 + d) % 11) + 1.0 for d in range(8)] for n in range(count)]
        for start in range(0, count, 500):
            collection.add(
                ids=ids[start : start + 500],
                embeddings=vectors[start : start + 500],  # type: ignore[arg-type]
                documents=ids[start : start + 500],
                metadatas=[{"n": n} for n in range(start, min(count, start + 500))],
            )
    return root


def test_one_reader_serves_every_read_and_each_read_sees_its_own_delta(tmp_path: Path) -> None:
    first = read_delta(chroma_dir(tmp_path / "a", count=3), "words")
    pid = reader_pid()
    second = read_delta(chroma_dir(tmp_path / "b", count=5), "words")
    assert pid is not None
    assert reader_pid() == pid
    assert pid != os.getpid()
    assert sorted(first.ids) == ["w00000", "w00001", "w00002"]
    assert len(second.ids) == 5
    assert second.metadatas[second.ids.index("w00004")] == {"n": 4}


def test_a_reader_killed_between_reads_is_replaced_and_the_read_still_succeeds(tmp_path: Path) -> None:
    delta = chroma_dir(tmp_path / "a", count=2)
    read_delta(delta, "words")
    dead = reader_pid()
    assert dead is not None
    os.kill(dead, signal.SIGKILL)
    assert len(read_delta(delta, "words").ids) == 2
    assert reader_pid() not in {None, dead}


def test_a_delta_that_crashes_its_child_leaves_the_reader_serving(tmp_path: Path) -> None:
    """Random bytes over the HNSW level-0 file: the child reading it dies or fails, the reader does not."""
    bad = chroma_dir(tmp_path / "bad", count=1200)
    level0 = sorted(bad.rglob("data_level0.bin"))
    assert level0, "the delta has a real HNSW index"
    original = level0[0].read_bytes()
    level0[0].write_bytes(os.urandom(4096) + original[4096:])
    good = chroma_dir(tmp_path / "good", count=2)
    read_delta(good, "words")
    pid = reader_pid()
    with pytest.raises(DeltaError, match=r"opening the delta's Chroma directory \(bad\) (crashed|failed)"):
        read_delta(bad, "words")
    assert reader_pid() == pid
    assert len(read_delta(good, "words").ids) == 2


def test_a_delta_that_hangs_is_stopped_at_the_open_timeout_and_the_next_read_works(tmp_path: Path) -> None:
    """A FIFO in place of the HNSW level-0 file: opening it blocks forever; the child's alarm ends it."""
    hanging = chroma_dir(tmp_path / "hang", count=1200)
    level0 = sorted(hanging.rglob("data_level0.bin"))
    assert level0, "the delta has a real HNSW index"
    level0[0].unlink()
    os.mkfifo(level0[0])
    with pytest.raises(DeltaError, match=r"\(hang\) did not finish within 1 s"):
        read_delta(hanging, "words", limits=DeltaLimits(open_timeout=1))
    assert len(read_delta(chroma_dir(tmp_path / "ok", count=1), "words").ids) == 1


def test_a_missing_collection_is_named_with_what_the_delta_has(tmp_path: Path) -> None:
    with pytest.raises(DeltaError, match=r"has no 'lines' collection \(it has \['words'\]\)"):
        read_delta(chroma_dir(tmp_path / "a", count=1), "lines")
