"""verify_snapshot opens a directory in a child process: damage is an error here, never a dead test run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.snapshot import verify_snapshot


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "chroma"
    rng = np.random.default_rng(7)
    with open_chroma(path) as client:
        open_collection(client, "words").add(
            ids=[f"w{n}" for n in range(1200)], embeddings=rng.random((1200, 8))
        )
    return path


def test_a_healthy_snapshot_verifies(healthy: Path) -> None:
    report = verify_snapshot(healthy, "words", expected_count=1200, sample_ids=("w0", "w1199"))
    assert report.count == 1200
    assert report.missing_ids == ()


def test_a_wrong_count_or_missing_id_is_an_error(healthy: Path) -> None:
    with pytest.raises(RuntimeError, match="holds 1200 records, its manifest says 1201"):
        verify_snapshot(healthy, "words", expected_count=1201)
    with pytest.raises(RuntimeError, match=r"lacks ids \['nope'\]"):
        verify_snapshot(healthy, "words", sample_ids=("w0", "nope"))


@pytest.mark.parametrize("name", ["chroma.sqlite3", "header.bin", "data_level0.bin"])
def test_a_damaged_file_is_an_error_not_a_crash(healthy: Path, tmp_path: Path, name: str) -> None:
    damaged = tmp_path / "chroma"
    shutil.copytree(healthy, damaged)
    target = next(damaged.rglob(name))
    data = bytearray(target.read_bytes())
    for index in range(0, len(data), 7):
        data[index] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match=f"opening the snapshot at {damaged} failed"):
        verify_snapshot(damaged, "words", expected_count=1200)
    assert healthy.exists()  # the copy was damaged, and verify works on its own copy of that
