"""Deltas are untrusted: they are fetched within limits checked while streaming, and opened by Chroma only in
a child process, so a hostile or damaged delta fails its own message and never the compaction process."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.compaction.deltas import (
    DeltaError,
    DeltaLimits,
    download_delta,
    read_delta,
    safe_extract,
)
from receipt_compaction.entities import CompactionRun
from receipt_compaction.harness import receipt_entities
from tests.support.world import World

IMAGE = "2b7c9d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
MiB = 1024 * 1024


def many_words(world: World, receipt_id: int, *, lines: int = 30, words: int = 40) -> None:
    """Enough words (1,200) for Chroma to write a real HNSW index into the delta."""
    rows = [[f"W{receipt_id}-{line}-{word}" for word in range(words)] for line in range(lines)]
    world.put(*receipt_entities(image_id=IMAGE, receipt_id=receipt_id, lines=rows))


def tar_gz(members: dict[str, bytes], *, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=level) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def written_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def test_a_delta_whose_hnsw_file_is_random_bytes_fails_alone_and_the_process_lives(world: World) -> None:
    """Before: Chroma opened the delta in this process and the test run died with a segfault."""
    world.seed(IMAGE, 1, [["KEEP"]])
    many_words(world, 2)
    bad = world.produce(world.state(IMAGE, 2), "run-bad", "directory")
    world.put(*receipt_entities(image_id=IMAGE, receipt_id=3, lines=[["GOOD", "ONE"]]))
    good = world.produce(world.state(IMAGE, 3), "run-good", "directory")
    keys = [
        item["Key"]
        for item in world.clients.s3.list_objects_v2(Bucket=world.bucket, Prefix="words/delta/run-bad/")[
            "Contents"
        ]
    ]
    level0 = [key for key in keys if key.endswith("data_level0.bin")]
    assert level0, keys  # the delta has a real HNSW index
    original = world.clients.s3.get_object(Bucket=world.bucket, Key=level0[0])["Body"].read()
    damaged = os.urandom(4096) + original[4096:]
    world.clients.s3.put_object(Bucket=world.bucket, Key=level0[0], Body=damaged)
    result = world.compact(world.messages("INSERT", new=bad) + world.messages("INSERT", new=good), "words")
    reasons = {outcome.status: outcome.reason for outcome in result.outcomes}
    assert [outcome.status for outcome in result.outcomes] == ["failed", "applied"]
    assert "delta merge failed" in reasons["failed"]
    assert "the delta's Chroma directory" in reasons["failed"]
    assert [run.run.run_id for run in result.merged_runs] == ["run-good"]
    records = world.records("words")
    assert word_embedding_id(IMAGE, 3, 1, 2) in records
    assert not any(key.startswith(f"IMAGE#{IMAGE}#RECEIPT#00002") for key in records)


def test_a_gzip_bomb_is_refused_at_the_file_limit_before_its_bytes_reach_the_disk(
    world: World, tmp_path: Path
) -> None:
    """Before: the whole 1 GiB member was written to the temp dir, then refused."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("chroma.sqlite3")
        info.size = 1024 * MiB
        tar.addfile(info, _Zeros(info.size))
    assert len(buffer.getvalue()) < 8 * MiB
    world.clients.s3.put_object(
        Bucket=world.bucket, Key="words/delta/bomb/delta.tar.gz", Body=buffer.getvalue()
    )
    with pytest.raises(DeltaError, match="over the per-file limit") as caught:
        download_delta(world.clients.s3, world.bucket, "words/delta/bomb/", tmp_path / "delta")
    assert "COMPACTION_DELTA_MAX_FILE_BYTES" in str(caught.value)
    assert written_bytes(tmp_path) == 0


def test_the_total_limit_stops_extraction_at_the_member_that_crosses_it(tmp_path: Path) -> None:
    archive = tmp_path / "many.tar.gz"
    archive.write_bytes(tar_gz({f"part-{n}": bytes(MiB) for n in range(20)}))
    limits = DeltaLimits(max_bytes=4 * MiB)
    with pytest.raises(DeltaError, match=r"holds more than 4,194,304 bytes .* by member 'part-4'"):
        safe_extract(archive, tmp_path / "out", limits=limits)
    assert written_bytes(tmp_path / "out") == 4 * MiB


def test_a_pax_header_bomb_is_refused_by_the_decompressed_bound(tmp_path: Path) -> None:
    """Header records are read into memory by tarfile: the decompressed stream itself is bounded."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "x" * (64 * MiB)}
        tar.addfile(info, io.BytesIO(b""))
    archive = tmp_path / "pax.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(DeltaError, match="once decompressed is larger than the limit"):
        safe_extract(archive, tmp_path / "out", limits=DeltaLimits(max_bytes=MiB, max_members=4))


def test_a_300000_member_tarball_is_refused_at_the_member_limit(world: World, tmp_path: Path) -> None:
    """Before: every member header was read (getmembers) before any check, about 150 s."""
    header = tarfile.TarInfo("empty").tobuf(format=tarfile.GNU_FORMAT)
    body = gzip.compress(header * 300_000 + bytes(1024), compresslevel=1)
    world.clients.s3.put_object(Bucket=world.bucket, Key="words/delta/wide/delta.tar.gz", Body=body)
    with pytest.raises(DeltaError, match="more than 64 members"):
        download_delta(world.clients.s3, world.bucket, "words/delta/wide/", tmp_path / "delta")


def test_a_directory_delta_over_the_limits_is_refused_before_any_download(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        world.clients.s3.put_object(Bucket=world.bucket, Key=f"words/delta/dir/f{n}", Body=bytes(1000))
    gets: list[str] = []
    world.clients.s3.meta.events.register("before-call.s3.GetObject", lambda **_: gets.append("get"))
    monkeypatch.setenv("COMPACTION_DELTA_MAX_MEMBERS", "4")
    with pytest.raises(DeltaError, match="more than 4 objects"):
        download_delta(world.clients.s3, world.bucket, "words/delta/dir/", tmp_path / "a")
    monkeypatch.setenv("COMPACTION_DELTA_MAX_MEMBERS", "10")
    monkeypatch.setenv("COMPACTION_DELTA_MAX_BYTES", "4000")
    with pytest.raises(DeltaError, match="5,000 bytes, over the limit of 4,000"):
        download_delta(world.clients.s3, world.bucket, "words/delta/dir/", tmp_path / "b")
    assert gets == []


@pytest.mark.parametrize("value", ["0", "-3", "lots", "nan"])
def test_a_bad_limit_in_the_environment_is_a_clear_error(value: str) -> None:
    with pytest.raises(DeltaError, match=f"COMPACTION_DELTA_MAX_BYTES={value!r} must be a positive number"):
        DeltaLimits.from_environ({"COMPACTION_DELTA_MAX_BYTES": value})
    assert DeltaLimits.from_environ({"COMPACTION_DELTA_MAX_MEMBERS": "7"}).max_members == 7


def test_a_delta_that_is_not_sqlite_is_refused_before_chroma_opens_it(world: World, tmp_path: Path) -> None:
    world.clients.s3.put_object(
        Bucket=world.bucket,
        Key="words/delta/fake/delta.tar.gz",
        Body=tar_gz({"chroma.sqlite3": b"definitely not a database"}),
    )
    with pytest.raises(DeltaError, match=r"chroma\.sqlite3 is not an SQLite database"):
        download_delta(world.clients.s3, world.bucket, "words/delta/fake/", tmp_path / "d")


def test_a_delta_is_read_as_plain_values(world: World) -> None:
    world.put(*receipt_entities(image_id=IMAGE, receipt_id=4, lines=[["A", "B"]]))
    run: CompactionRun = world.produce(world.state(IMAGE, 4), "run-plain", "directory")
    directory = download_delta(
        world.clients.s3, world.bucket, run.prefix_for("words"), world.chroma_dir.parent / "plain"
    )
    records = read_delta(directory, "words")
    assert sorted(records.ids) == [word_embedding_id(IMAGE, 4, 1, 1), word_embedding_id(IMAGE, 4, 1, 2)]
    assert all(isinstance(x, float) for vector in records.embeddings for x in vector)
    with pytest.raises(DeltaError, match="has no 'lines' collection"):
        read_delta(directory, "lines")


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, generated as they are read (the bomb is never held in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)
