"""The EFS cache is verified: a damaged cached version is named, evicted and fetched again, and a working
copy is made only from bytes that match the manifest, so damage is never compacted nor published."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness import receipt_entities
from receipt_compaction.snapshot import EFSSnapshotManager
from tests.support.compactor import WordsCompactor
from tests.support.world import World

IMAGE = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"


@pytest.fixture
def compactor(world: World, tmp_path: Path) -> WordsCompactor:
    """A words compactor whose first cycle merged a 1,200-word delta (a real HNSW index) and cached it."""
    compactor = WordsCompactor(world, tmp_path)
    rows = [[f"W{line}-{word}" for word in range(40)] for line in range(30)]
    world.put(*receipt_entities(image_id=IMAGE, receipt_id=1, lines=rows, merchant_name="Shop"))
    run = world.produce(world.state(IMAGE, 1), "run-seed")
    report = compactor.cycle(world.messages("INSERT", new=run))
    assert report.failures == {}
    assert report.version_id is not None
    return compactor


def label(word_id: int) -> ReceiptWordLabel:
    return ReceiptWordLabel(
        image_id=IMAGE, receipt_id=1, line_id=1, word_id=word_id, label="TOTAL", validation_status="VALID"
    )


def damage(path: Path, offset: int, data: bytes, *, keep_mtime: bool = False) -> None:
    before = path.stat()
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)
    assert path.stat().st_size == before.st_size
    if keep_mtime:  # bit rot, or a careful tool: size and mtime say nothing changed
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def assert_cycle_heals(compactor: WordsCompactor, caplog: pytest.LogCaptureFixture, word_id: int) -> None:
    with caplog.at_level(logging.WARNING, logger="receipt_compaction.snapshot.efs"):
        report = compactor.cycle(compactor.world.change("INSERT", new=label(word_id)))
    assert report.failures == {}
    assert report.version_id is not None
    published = compactor.published()
    assert len(published) == 1200
    assert {meta.get("merchant_name") for _, meta in published.values()} == {"Shop"}
    assert published[word_embedding_id(IMAGE, 1, 1, word_id)][1]["valid_labels"] == ["TOTAL"]
    warnings = [record.getMessage() for record in caplog.records if record.name.endswith("efs")]
    assert any(str(compactor.settings.efs_root / "words") in message for message in warnings), warnings
    assert any("evicted, it is fetched again from S3" in message for message in warnings), warnings


def test_random_bytes_in_the_cached_sqlite_are_named_evicted_and_refetched(
    compactor: WordsCompactor, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: every cycle failed with "file is not a database", and nothing named the cache."""
    damage(compactor.cached("chroma.sqlite3"), 0, os.urandom(4096))
    assert_cycle_heals(compactor, caplog, 1)


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["mtime-changed", "mtime-kept"])
def test_one_changed_word_in_the_cached_sqlite_is_never_published(
    compactor: WordsCompactor, caplog: pytest.LogCaptureFixture, keep_mtime: bool
) -> None:
    """Before: a version was published with the wrong merchant name (and it verified)."""
    path = compactor.cached("chroma.sqlite3")
    data = path.read_bytes()
    assert data.count(b"Shop") > 100  # every word's merchant_name
    damage(path, 0, data.replace(b"Shop", b"Shoq"), keep_mtime=keep_mtime)
    assert_cycle_heals(compactor, caplog, 2)


def test_random_bytes_in_a_cached_hnsw_file_never_reach_chroma(
    compactor: WordsCompactor, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: Chroma opened the copied file and the process died with a segfault."""
    damage(compactor.cached("data_level0.bin"), 0, os.urandom(4096))
    assert_cycle_heals(compactor, caplog, 3)


def test_a_cached_version_is_hashed_once_per_process_and_sizes_every_time(
    compactor: WordsCompactor, tmp_path: Path
) -> None:
    pointer = compactor.store.read_pointer()
    assert pointer is not None
    cache = EFSSnapshotManager(compactor.settings.efs_root, compactor.store)
    reads: list[str] = []
    original = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:  # counts reads of cached files
        if "versions" in self.parts and self.name != "manifest.json":
            reads.append(self.name)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        # a spy, not a fake: every read still happens; it is how a test sees a hash that did not run
        patch.setattr(Path, "open", counting_open)
        cache.check_cached(pointer.version_id)
        assert reads == []  # this process fetched or adopted it and hashed it then
        path = compactor.cached("length.bin")
        os.utime(path)  # touched: hashed again, and it matches
        cache.check_cached(pointer.version_id)
        assert len(reads) == len(compactor.store.read_manifest(pointer.version_id).files)
    with path.open("ab") as handle:  # a size change is found without hashing
        handle.write(b"x")
    with pytest.raises(Exception, match=r"is \d+ bytes, its manifest says \d+"):
        cache.check_cached(pointer.version_id)
