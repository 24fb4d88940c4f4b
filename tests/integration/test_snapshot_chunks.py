"""Chunked snapshot bodies on the moto server: manifests written before chunks still restore, a warm cache
fetches only the chunks it lacks and links unchanged files, a damaged chunk is named, and retention is safe
while another writer publishes."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receipt_compaction.cli import main
from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness.backends import Backend
from receipt_compaction.snapshot import (
    EFSSnapshotManager,
    Manifest,
    PublishedVersion,
    SnapshotConflict,
    SnapshotIntegrityError,
    SnapshotStore,
    new_version_id,
)
from receipt_compaction.snapshot import store as store_module
from receipt_compaction.snapshot.layout import body_key, manifest_key, pointer_key
from tests.integration.test_snapshot_store import assert_same, contents
from tests.support.world import World

IMAGE = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"
SMALL_CHUNKS = 16 * 1024  # four SQLite pages: the small test collections still have many chunks


def seeded(world: World) -> Path:
    for receipt_id in (1, 2, 3):
        world.seed(IMAGE, receipt_id, [[f"W{receipt_id}-{n}" for n in range(8)]] * 4, merchant_name="Shop")
    return world.chroma_dir


def relabel(world: World, word_id: int, label: str = "TOTAL") -> None:
    change = ReceiptWordLabel(
        image_id=IMAGE, receipt_id=1, line_id=1, word_id=word_id, label=label, validation_status="VALID"
    )
    world.compact(world.change("INSERT", new=change), "words")


def piece_shas(manifest: Manifest) -> set[str]:
    return {chunk.sha256 for entry in manifest.files for chunk in entry.pieces()}


def body_gets(world: World) -> list[str]:
    """The sha256 of every stored piece the client GETs from now on."""
    seen: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if "/snapshot/bodies/" in params["url_path"]:
            seen.append(params["url_path"].rsplit("/", 1)[1].removesuffix(".gz"))

    world.clients.s3.meta.events.register("before-call.s3.GetObject", record)
    return seen


def publish_the_old_way(world: World, directory: Path, count: int) -> str:
    """A version exactly as receipt-compaction wrote it before chunks: one gzip body per file (level 3)
    named by the file's sha256, uploaded with S3's SHA256 checksum which the manifest records, and a format 1
    manifest (no ``format_version``, no chunks), indented."""
    files = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        sha256 = hashlib.sha256(raw).hexdigest()
        packed = gzip.compress(raw, compresslevel=3, mtime=0)
        checksum = base64.b64encode(hashlib.sha256(packed).digest()).decode()
        world.clients.s3.put_object(
            Bucket=world.bucket,
            Key=body_key("words", sha256),
            Body=packed,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum,
        )
        relative = path.relative_to(directory).as_posix()
        files.append({"path": relative, "size": len(raw), "sha256": sha256, "stored_checksum": checksum})
    version_id = new_version_id()
    manifest = {
        "version_id": version_id,
        "collection": "words",
        "created_at": datetime.now(UTC).isoformat(),
        "chromadb_version": "1.5.9",
        "count": count,
        "parent_version": None,
        "fencing_token": 1,
        "files": files,
    }
    world.clients.s3.put_object(
        Bucket=world.bucket,
        Key=manifest_key("words", version_id),
        Body=json.dumps(manifest, indent=1).encode(),
    )
    world.clients.s3.put_object(Bucket=world.bucket, Key=pointer_key("words"), Body=version_id.encode())
    return version_id


def test_a_version_written_before_chunks_restores_and_the_next_version_builds_on_it(
    world: World, tmp_path: Path
) -> None:
    directory = seeded(world)
    old = publish_the_old_way(world, directory, count=96)
    store = SnapshotStore(world.clients.s3, world.bucket, "words", chunk_bytes=SMALL_CHUNKS)
    manifest = store.restore(old, tmp_path / "cold")
    assert manifest.format_version == 1
    assert all(entry.chunks is None for entry in manifest.files)
    assert_same(contents(tmp_path / "cold"), contents(directory))
    cache = EFSSnapshotManager(tmp_path / "efs", store)
    assert_same(contents(cache.working_copy(old)), contents(directory))
    # the next version (format 2) on the old parent: unchanged small bodies are reused (S3 still reports the
    # checksum the old manifest recorded), large files are cut into chunks once
    pointer = store.read_pointer()
    assert pointer is not None
    relabel(world, 1)
    new = store.publish(directory, expected=pointer, fencing_token=2, count=96)
    assert new.manifest.format_version == 2
    chunked = {entry.path for entry in new.manifest.files if len(entry.pieces()) > 1}
    assert "chroma.sqlite3" in chunked
    small_unchanged = {
        entry.path
        for entry in new.manifest.files
        if entry.path not in chunked and entry.sha256 in {e.sha256 for e in manifest.files}
    }
    assert small_unchanged  # the HNSW header and friends
    assert not small_unchanged & set(new.uploaded_files)
    gets = body_gets(world)
    warm = cache.ensure_snapshot_available(new.manifest.version_id)
    assert_same(contents(warm), contents(directory))
    assert not {entry.sha256 for entry in manifest.files} & set(gets)  # nothing held was fetched again
    store.restore(new.manifest.version_id, tmp_path / "cold-new")
    assert_same(contents(tmp_path / "cold-new"), contents(directory))


def test_a_warm_restore_fetches_only_the_missing_chunks_and_links_unchanged_files(
    world: World, tmp_path: Path
) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words", chunk_bytes=SMALL_CHUNKS)
    directory = seeded(world)
    first = store.publish(directory, expected=None, fencing_token=1, count=96)
    cache = EFSSnapshotManager(tmp_path / "efs", store)
    older = cache.ensure_snapshot_available(first.manifest.version_id)
    relabel(world, 2)
    second = store.publish(directory, expected=first.pointer, fencing_token=1, count=96)
    sqlite = next(entry for entry in second.manifest.files if entry.path == "chroma.sqlite3")
    assert len(sqlite.pieces()) > 8
    assert 1 <= second.uploaded_chunks < len(sqlite.pieces())  # only the changed chunks went up
    gets = body_gets(world)
    newer = cache.ensure_snapshot_available(second.manifest.version_id)
    missing = piece_shas(second.manifest) - piece_shas(first.manifest)
    assert missing
    assert sorted(gets) == sorted(missing)  # exactly the chunks the cache did not hold
    assert_same(contents(newer), contents(directory))
    cached_inodes = {(older / entry.path).stat().st_ino: entry.sha256 for entry in first.manifest.files}
    for entry in (entry for entry in second.manifest.files if entry.size):  # an empty file is just written
        # an unchanged file is a link to a cached file with its content (maybe another path: the lines and
        # words segments can hold identical files); a changed one is new
        linked_to = cached_inodes.get((newer / entry.path).stat().st_ino)
        assert linked_to == (entry.sha256 if entry.sha256 in cached_inodes.values() else None), entry.path
    working = cache.working_copy(second.manifest.version_id)
    for entry in second.manifest.files:  # what Chroma opens is a private copy, never a link into the cache
        assert (working / entry.path).stat().st_ino != (newer / entry.path).stat().st_ino


def test_a_damaged_chunk_fails_restore_and_verify_naming_the_chunk(
    world: World,
    compaction_backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words", chunk_bytes=SMALL_CHUNKS)
    version = store.publish(seeded(world), expected=None, fencing_token=1, count=96)
    sqlite = next(entry for entry in version.manifest.files if entry.path == "chroma.sqlite3")
    key = body_key("words", sqlite.pieces()[2].sha256)
    raw = bytearray(gzip.decompress(world.clients.s3.get_object(Bucket=world.bucket, Key=key)["Body"].read()))
    raw[100] ^= 0xFF
    world.clients.s3.put_object(Bucket=world.bucket, Key=key, Body=gzip.compress(bytes(raw)))
    with pytest.raises(
        SnapshotIntegrityError,
        match=r"words file 'chroma.sqlite3': sha256 [0-9a-f]{64} does not match the manifest's "
        rf"{sqlite.pieces()[2].sha256} \(16384 bytes, chunk 3 of \d+ at offset 32768",
    ):
        store.restore(version.manifest.version_id, tmp_path / "restored")
    assert not [path for path in (tmp_path / "restored").rglob("*") if path.name.endswith(".partial")]
    for name, value in {**compaction_backend.environ(), "CHROMADB_BUCKET": world.bucket}.items():
        monkeypatch.setenv(name, value)
    assert main(["snapshot", "verify", "words"]) == 1
    assert "chunk 3 of" in capsys.readouterr().err


def test_retention_never_collects_a_chunk_a_concurrent_publish_references(
    world: World, tmp_path: Path
) -> None:
    """Versions A, B, C; then a writer republishes A's content on C while retention (keep 1) runs. A's chunks
    are in S3 (version A's) but not in C: a writer that skipped them because S3 lists them would publish a
    version retention just emptied. This one uploads them again, so they are new and the grace spares them."""
    store = SnapshotStore(world.clients.s3, world.bucket, "words", chunk_bytes=SMALL_CHUNKS)
    directory = seeded(world)
    state_a = tmp_path / "a"
    shutil.copytree(directory, state_a)
    a = store.publish(directory, expected=None, fencing_token=1, count=96)
    relabel(world, 3, "B")
    b = store.publish(directory, expected=a.pointer, fencing_token=1, count=96)
    relabel(world, 4, "C")
    c = store.publish(directory, expected=b.pointer, fencing_token=1, count=96)
    only_a = piece_shas(a.manifest) - piece_shas(c.manifest)
    only_b = piece_shas(b.manifest) - piece_shas(c.manifest) - piece_shas(a.manifest)
    assert only_a
    assert only_b
    grace = timedelta(seconds=2)
    time.sleep(grace.total_seconds() + 0.5)  # every piece so far is older than the grace period

    reached, resume = threading.Event(), threading.Event()
    outcome: dict[str, PublishedVersion | BaseException] = {}

    def pause_before_the_manifest(params: dict[str, Any], **_: Any) -> None:
        if threading.current_thread().name == "publisher" and params["Key"].endswith("/manifest.json"):
            reached.set()
            resume.wait(60)

    def publish() -> None:
        try:
            outcome["published"] = store.publish(state_a, expected=c.pointer, fencing_token=2, count=96)
        except BaseException as error:
            outcome["published"] = error

    world.clients.s3.meta.events.register("before-parameter-build.s3.PutObject", pause_before_the_manifest)
    publisher = threading.Thread(target=publish, name="publisher")
    publisher.start()
    try:
        assert reached.wait(60)  # every piece is uploaded, the manifest not yet written
        report = store.retain(keep=1, grace=grace)
    finally:
        resume.set()
        publisher.join(60)
    assert report.deleted_versions == (a.manifest.version_id, b.manifest.version_id)
    held = {
        item["Key"].rsplit("/", 1)[1].removesuffix(".gz")
        for item in world.clients.s3.list_objects_v2(
            Bucket=world.bucket, Prefix="words/snapshot/bodies/"
        ).get("Contents", [])
    }
    assert not only_b & held  # retention did collect what nothing references
    published = outcome["published"]
    assert isinstance(published, PublishedVersion), published
    assert only_a <= held
    assert only_a <= {chunk for chunk in piece_shas(published.manifest)}
    assert published.uploaded_chunks >= len(only_a)  # uploaded again although S3 listed them
    store.verify_version(published.manifest.version_id)
    store.restore(published.manifest.version_id, tmp_path / "restored")
    assert_same(contents(tmp_path / "restored"), contents(state_a))


def test_chunk_bytes_must_be_whole_sqlite_pages(world: World) -> None:
    with pytest.raises(ValueError, match=r"chunk_bytes=5000: use a multiple of SQLite's page size \(4096\)"):
        SnapshotStore(world.clients.s3, world.bucket, "words", chunk_bytes=5000)


def test_a_manifest_of_a_newer_format_is_refused_with_the_fix(world: World) -> None:
    version_id = new_version_id()
    document = {
        "format_version": 3,
        "version_id": version_id,
        "collection": "words",
        "created_at": "2026-01-01T00:00:00+00:00",
        "chromadb_version": "9",
        "count": 0,
        "parent_version": None,
        "fencing_token": 1,
        "files": [],
    }
    world.clients.s3.put_object(
        Bucket=world.bucket, Key=manifest_key("words", version_id), Body=json.dumps(document).encode()
    )
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    with pytest.raises(SnapshotIntegrityError, match="upgrade receipt-compaction"):
        store.read_manifest(version_id)


def test_a_publish_slower_than_max_publish_gives_up_before_its_manifest(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention's grace period protects a publish's new pieces only for so long: a publish that took longer
    gives up rather than write a manifest naming pieces that may be gone. No real publish here is slow, so
    the limit itself is lowered to force it."""
    store = SnapshotStore(world.clients.s3, world.bucket, "words", chunk_bytes=SMALL_CHUNKS)
    first = store.publish(seeded(world), expected=None, fencing_token=1, count=96)
    monkeypatch.setattr(store_module, "MAX_PUBLISH", timedelta(0))
    with pytest.raises(SnapshotConflict, match="took longer than 0:00:00 since its first upload"):
        store.publish(world.chroma_dir, expected=first.pointer, fencing_token=1, count=96)
    assert store.read_pointer() == first.pointer
    assert store.versions() == [first.manifest.version_id]


def test_a_damaged_cached_chunk_is_fetched_from_s3_instead(world: World, tmp_path: Path) -> None:
    """Chunks a cached version holds are only hints: the changed file they help build is hashed, and a chunk
    that does not match is fetched from S3; the damaged version itself is not linked from."""
    store = SnapshotStore(world.clients.s3, world.bucket, "words", chunk_bytes=SMALL_CHUNKS)
    directory = seeded(world)
    first = store.publish(directory, expected=None, fencing_token=1, count=96)
    cache = EFSSnapshotManager(tmp_path / "efs", store)
    older = cache.ensure_snapshot_available(first.manifest.version_id)
    relabel(world, 5)
    second = store.publish(directory, expected=first.pointer, fencing_token=1, count=96)
    before = next(entry for entry in first.manifest.files if entry.path == "chroma.sqlite3")
    after = next(entry for entry in second.manifest.files if entry.path == "chroma.sqlite3")
    shared = next(
        index
        for index, chunk in enumerate(after.pieces())
        if index < len(before.pieces()) and chunk.sha256 == before.pieces()[index].sha256
    )
    with (older / "chroma.sqlite3").open("r+b") as handle:  # the chunk both versions share, damaged
        handle.seek(shared * SMALL_CHUNKS + 10)
        handle.write(b"\xff" * 8)
    gets = body_gets(world)
    newer = cache.ensure_snapshot_available(second.manifest.version_id)
    assert after.pieces()[shared].sha256 in gets
    assert (newer / "chroma.sqlite3").read_bytes() == (directory / "chroma.sqlite3").read_bytes()
    assert_same(contents(cache.working_copy(second.manifest.version_id)), contents(directory))
