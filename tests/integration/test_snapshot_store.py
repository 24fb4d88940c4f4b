"""Snapshots in S3 on the moto server: round trips, content addressing, integrity, races, retention."""

from __future__ import annotations

import gzip
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from receipt_compaction.chroma_store import get_all, open_chroma, open_collection
from receipt_compaction.embedding import embed_receipts
from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness import receipt_entities
from receipt_compaction.snapshot import (
    EFSSnapshotManager,
    SnapshotConflict,
    SnapshotIntegrityError,
    SnapshotStore,
    pointer_key,
    verify_snapshot,
)
from receipt_compaction.snapshot.layout import body_key, manifest_key
from receipt_compaction.state import ReceiptKey, ReceiptState
from tests.support.world import World

IMAGE = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"


def contents(path: Path, collection: str = "words") -> dict[str, Any]:
    with open_chroma(path) as client:
        found = get_all(open_collection(client, collection), include=["embeddings", "documents", "metadatas"])
    order = np.argsort(found["ids"])
    return {
        "ids": [found["ids"][i] for i in order],
        "documents": [found["documents"][i] for i in order],
        "metadatas": [found["metadatas"][i] for i in order],
        "embeddings": np.array([found["embeddings"][i] for i in order]),
    }


def assert_same(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert left["ids"] == right["ids"]
    assert left["documents"] == right["documents"]
    assert left["metadatas"] == right["metadatas"]
    np.testing.assert_allclose(left["embeddings"], right["embeddings"], atol=1e-6)


def seeded(world: World, receipts: int = 3) -> Path:
    for receipt_id in range(1, receipts + 1):
        world.seed(
            IMAGE,
            receipt_id,
            [[f"W{receipt_id}{n}" for n in range(5)], ["TOTAL", "1.00"]],
            merchant_name="Shop",
        )
    return world.chroma_dir


def large_collection(world: World, receipts: int = 24) -> Path:
    """1,200 words (Chroma keeps small HNSW indexes unsettled below 1,000 vectors, and rewrites their files on
    every update), of which only receipt 1 is in DynamoDB: the tests below only change that one."""
    states = []
    for receipt_id in range(1, receipts + 1):
        entities = receipt_entities(
            image_id=IMAGE, receipt_id=receipt_id, lines=[[f"W{receipt_id}-{n}" for n in range(10)]] * 5
        )
        if receipt_id == 1:
            world.put(*entities)
        states.append(ReceiptState.from_entities(ReceiptKey(IMAGE, receipt_id), entities))
    embed_receipts(world.chroma_dir, states, embedder=world.embedder, collections=["words"])
    return world.chroma_dir


def put_count(world: World) -> list[str]:
    """Every S3 write the client makes from now on, by operation name."""
    calls: list[str] = []
    for operation in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        world.clients.s3.meta.events.register(
            f"before-call.s3.{operation}", lambda operation=operation, **_: calls.append(operation)
        )
    return calls


def test_publish_then_restore_round_trips(world: World, tmp_path: Path) -> None:
    directory = seeded(world)
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    assert store.read_pointer() is None
    report = store.publish(directory, expected=None, fencing_token=1, count=21)
    pointer = store.read_pointer()
    assert pointer == report.pointer
    body = world.clients.s3.get_object(Bucket=world.bucket, Key=pointer_key("words"))["Body"].read().decode()
    assert body == report.manifest.version_id
    manifest = store.read_manifest(pointer.version_id)
    assert manifest.count == 21
    assert manifest.fencing_token == 1
    assert {entry.path for entry in manifest.files} >= {"chroma.sqlite3"}
    restored = tmp_path / "restored"
    store.restore(pointer.version_id, restored)
    assert_same(contents(restored), contents(directory))
    assert (
        verify_snapshot(
            restored, "words", expected_count=21, sample_ids=(contents(directory)["ids"][0],)
        ).count
        == 21
    )


@pytest.mark.parametrize("chunk_bytes", [None, 16 * 1024], ids=["whole-files", "chunked"])
def test_a_metadata_only_compaction_uploads_only_the_sqlite_body(
    world: World, chunk_bytes: int | None
) -> None:
    directory = large_collection(world)
    store = SnapshotStore(world.clients.s3, world.bucket, "words", chunk_bytes=chunk_bytes)
    first = store.publish(directory, expected=None, fencing_token=1, count=1200)
    assert len(first.manifest.files) >= 5  # sqlite plus the HNSW segment files
    pieces = {chunk.sha256 for entry in first.manifest.files for chunk in entry.pieces()}
    assert first.uploaded_chunks == len(pieces)  # each piece once
    messages = world.change(
        "INSERT",
        new=ReceiptWordLabel(
            image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label="TOTAL", validation_status="VALID"
        ),
    )
    assert world.compact(messages, "words").updated == 1
    calls = put_count(world)
    second = store.publish(directory, expected=first.pointer, fencing_token=1, count=1200)
    assert second.uploaded_files == ("chroma.sqlite3",)
    sqlite = next(entry for entry in second.manifest.files if entry.path == "chroma.sqlite3")
    if chunk_bytes is None:
        assert calls == ["PutObject", "PutObject", "PutObject"]  # the sqlite body, the manifest, the pointer
    else:  # only the chunks the label changed, then the manifest and the pointer
        assert 1 <= second.uploaded_chunks < len(sqlite.pieces()) / 2
        assert calls == ["PutObject"] * (second.uploaded_chunks + 2)
        assert second.uploaded_bytes < sqlite.size / 4
    assert second.put_requests == len(calls)
    assert second.manifest.parent_version == first.manifest.version_id
    assert second.manifest.version_id > first.manifest.version_id


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("stored", r"words file 'chroma.sqlite3': s3://\S+ is damaged"),  # a byte flipped in the stored gzip
        ("content", r"words file 'chroma.sqlite3': sha256 [0-9a-f]{64} does not match the manifest's"),
    ],
)
def test_a_flipped_byte_fails_the_restore_by_name_and_leaves_the_pointer(
    world: World, tmp_path: Path, damage: str, message: str
) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    report = store.publish(seeded(world, 1), expected=None, fencing_token=1, count=7)
    entry = next(e for e in report.manifest.files if e.path == "chroma.sqlite3")
    key = body_key("words", entry.sha256)
    stored = world.clients.s3.get_object(Bucket=world.bucket, Key=key)["Body"].read()
    data = bytearray(stored if damage == "stored" else gzip.decompress(stored))
    data[len(data) // 2] ^= 0xFF
    body = bytes(data) if damage == "stored" else gzip.compress(bytes(data))
    world.clients.s3.put_object(Bucket=world.bucket, Key=key, Body=body)
    with pytest.raises(SnapshotIntegrityError, match=message):
        store.restore(report.manifest.version_id, tmp_path / "restored")
    assert store.read_pointer() == report.pointer
    assert not (tmp_path / "restored" / "chroma.sqlite3").exists()


def test_two_writers_from_the_same_version_one_wins(world: World, tmp_path: Path) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    base = store.publish(seeded(world, 1), expected=None, fencing_token=1, count=7)
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    shutil.copytree(world.chroma_dir, mine)
    shutil.copytree(world.chroma_dir, theirs)
    won = store.publish(theirs, expected=base.pointer, fencing_token=2, count=7)
    with pytest.raises(SnapshotConflict, match="another compactor published first"):
        store.publish(mine, expected=base.pointer, fencing_token=1, count=7)
    assert store.read_pointer() == won.pointer
    with pytest.raises(SnapshotConflict):  # a second first-version writer loses too
        store.publish(mine, expected=None, fencing_token=3, count=7)
    assert store.versions()[-1] == won.manifest.version_id


def test_retention_keeps_the_newest_and_the_pointer_and_collects_bodies(world: World) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    directory = seeded(world, 1)
    pointer = None
    for n in range(5):
        world.put(
            ReceiptWordLabel(
                image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label=f"L{n}", validation_status="VALID"
            )
        )
        world.compact(
            world.messages(
                "INSERT",
                new=ReceiptWordLabel(image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label=f"L{n}"),
            ),
            "words",
        )
        pointer = store.publish(directory, expected=pointer, fencing_token=1, count=7).pointer
    versions = store.versions()
    assert len(versions) == 5
    bodies = {
        version: {chunk.sha256 for entry in store.read_manifest(version).files for chunk in entry.pieces()}
        for version in versions
    }
    only_old = set().union(*(bodies[v] for v in versions[:3])) - set().union(
        *(bodies[v] for v in versions[3:])
    )
    assert only_old  # every version changed at least its sqlite file
    report = store.retain(keep=2, grace=timedelta(0))
    assert report.kept == tuple(versions[-2:])
    assert report.deleted_versions == tuple(versions[:3])
    assert report.deleted_bodies == len(only_old)
    assert store.versions() == versions[-2:]
    for version in versions[-2:]:  # every kept version still restores
        for entry in store.read_manifest(version).files:
            for chunk in entry.pieces():
                world.clients.s3.head_object(Bucket=world.bucket, Key=body_key("words", chunk.sha256))
    assert manifest_key("words", versions[0]) not in [
        o["Key"] for o in world.clients.s3.list_objects_v2(Bucket=world.bucket).get("Contents", [])
    ]


def test_the_efs_cache_fetches_only_new_bodies_and_swaps_current(world: World, tmp_path: Path) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    directory = seeded(world, 1)
    first = store.publish(directory, expected=None, fencing_token=1, count=7)
    cache = EFSSnapshotManager(tmp_path / "efs", store)
    path = cache.ensure_snapshot_available(first.manifest.version_id)
    cache.set_current(first.manifest.version_id)
    assert_same(contents(path), contents(directory))
    world.compact(
        world.change(
            "INSERT",
            new=ReceiptWordLabel(
                image_id=IMAGE, receipt_id=1, line_id=1, word_id=2, label="X", validation_status="VALID"
            ),
        ),
        "words",
    )
    second = store.publish(directory, expected=first.pointer, fencing_token=1, count=7)
    downloads: list[str] = []
    world.clients.s3.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: downloads.append(params["url_path"])
    )
    newer = cache.ensure_snapshot_available(second.manifest.version_id)
    bodies = sorted(
        url.rsplit("/", 1)[1].removesuffix(".gz") for url in downloads if "/snapshot/bodies/" in url
    )
    old = {entry.sha256 for entry in first.manifest.files}
    new = sorted({entry.sha256 for entry in second.manifest.files} - old)
    assert new  # at least the sqlite file changed
    assert bodies == new  # exactly the changed files were downloaded; the rest came from the cache
    assert_same(contents(newer), contents(directory))
    cache.set_current(second.manifest.version_id)
    assert (tmp_path / "efs" / "words" / "current").read_text() == second.manifest.version_id
    working = cache.working_copy(second.manifest.version_id)
    assert working != newer
    assert_same(contents(working), contents(directory))
    assert cache.cleanup(keep=1) == [first.manifest.version_id]
    assert cache.cached_versions() == [second.manifest.version_id]
