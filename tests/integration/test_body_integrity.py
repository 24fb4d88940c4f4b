"""S3 bodies are verified end to end: uploaded with S3's SHA256 checksum, restored with ChecksumMode, reused
by a new version only while S3 still holds them intact (else repaired from the verified local copy), and
``snapshot rollback`` moves the pointer back to a version that verifies, conditionally."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from receipt_compaction.cli import main
from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness.backends import Backend
from receipt_compaction.snapshot import (
    PublishedVersion,
    SnapshotConflict,
    SnapshotIntegrityError,
    SnapshotStore,
)
from receipt_compaction.snapshot.layout import body_key, pointer_key
from tests.support.world import World

IMAGE = "6d7e8f9a-0b1c-4d2e-9f3a-4b5c6d7e8f9a"


def publish_versions(world: World, store: SnapshotStore, count: int) -> list[PublishedVersion]:
    """``count`` versions of ``words``, each with one more label (so each has its own sqlite body)."""
    world.seed(IMAGE, 1, [["TOTAL", "9.99", "CASH"]], merchant_name="Shop")
    published = [store.publish(world.chroma_dir, expected=None, fencing_token=1, count=3)]
    for n in range(1, count):
        change = ReceiptWordLabel(
            image_id=IMAGE, receipt_id=1, line_id=1, word_id=n, label="X", validation_status="VALID"
        )
        world.compact(world.change("INSERT", new=change), "words")
        published.append(
            store.publish(world.chroma_dir, expected=published[-1].pointer, fencing_token=1, count=3)
        )
    return published


def sqlite_key(version: PublishedVersion) -> str:
    entry = next(e for e in version.manifest.files if e.path == "chroma.sqlite3")
    return body_key("words", entry.pieces()[0].sha256)  # the whole body, or the first chunk


def test_pieces_are_uploaded_with_an_s3_sha256_checksum_and_the_manifest_records_their_etag(
    world: World,
) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    (version,) = publish_versions(world, store, 1)
    pieces = [chunk for entry in version.manifest.files for chunk in entry.pieces()]
    assert pieces
    for chunk in pieces:
        key = body_key("words", chunk.sha256)
        head = world.clients.s3.head_object(Bucket=world.bucket, Key=key, ChecksumMode="ENABLED")
        stored = world.clients.s3.get_object(Bucket=world.bucket, Key=key)["Body"].read()
        expected = base64.b64encode(hashlib.sha256(stored).digest()).decode()
        assert head["ChecksumSHA256"] == expected
        assert head["ETag"].strip('"') == chunk.etag  # what a later writer compares S3's listing with


@pytest.mark.lanes(
    "moto",
    "dynamodb-local",
    reason="LocalStack, like S3, refuses a PUT whose checksum does not match its bytes: there, no damaged "
    "body can be planted this way",
)
def test_a_body_whose_bytes_differ_from_its_s3_checksum_fails_the_restore_by_name(
    world: World, tmp_path: Path
) -> None:
    """moto keeps whatever checksum a PUT claims (S3 would refuse it): the way to get bytes at rest that no
    longer match their checksum. Before: no ChecksumMode, so botocore never compared them."""
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    (version,) = publish_versions(world, store, 1)
    key = sqlite_key(version)
    stored = world.clients.s3.get_object(Bucket=world.bucket, Key=key)["Body"].read()
    claimed = base64.b64encode(hashlib.sha256(stored).digest()).decode()
    other = gzip.compress(gzip.decompress(stored)[:-1] + b"\x01", mtime=0)
    world.clients.s3.put_object(
        Bucket=world.bucket, Key=key, Body=other, ChecksumAlgorithm="SHA256", ChecksumSHA256=claimed
    )
    with pytest.raises(
        SnapshotIntegrityError, match=r"words file 'chroma.sqlite3': s3://\S+ is damaged .*did not match"
    ):
        store.restore(version.manifest.version_id, tmp_path / "restored")


def test_a_warm_writer_repairs_a_damaged_parent_body_instead_of_reusing_it(
    world: World, tmp_path: Path
) -> None:
    """Before: the new version referenced the damaged body, and no cold restore could read the pointer's
    version."""
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    (first,) = publish_versions(world, store, 1)
    key = sqlite_key(first)
    world.clients.s3.put_object(Bucket=world.bucket, Key=key, Body=os.urandom(2048))
    # the writer's working copy is intact (its cache verified it); it publishes without changing sqlite
    second = store.publish(world.chroma_dir, expected=first.pointer, fencing_token=2, count=3)
    assert second.repaired_files == ("chroma.sqlite3",)
    store.restore(second.manifest.version_id, tmp_path / "cold")  # a cold reader can read it
    assert (tmp_path / "cold" / "chroma.sqlite3").read_bytes() == (
        world.chroma_dir / "chroma.sqlite3"
    ).read_bytes()
    # and an intact parent body is reused, not uploaded again
    third = store.publish(world.chroma_dir, expected=second.pointer, fencing_token=3, count=3)
    assert third.uploaded_files == ()
    assert third.repaired_files == ()


def test_rollback_moves_the_pointer_to_the_newest_older_version_that_verifies(
    world: World,
    compaction_backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {**compaction_backend.environ(), "CHROMADB_BUCKET": world.bucket}.items():
        monkeypatch.setenv(name, value)
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    first, second, third = publish_versions(world, store, 3)
    for damaged in (second, third):
        world.clients.s3.put_object(Bucket=world.bucket, Key=sqlite_key(damaged), Body=b"garbage")
    code = main(["--json", "snapshot", "rollback", "words", "--to", third.manifest.version_id])
    captured = capsys.readouterr()
    assert code == 1  # the version asked for does not verify: nothing moves
    assert "words file 'chroma.sqlite3'" in captured.err
    assert store.read_pointer() == third.pointer
    code = main(["--json", "snapshot", "rollback", "words"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out) == {
        "previous": third.manifest.version_id,
        "pointer": first.manifest.version_id,
        "rejected": [second.manifest.version_id],
    }
    assert f"words {second.manifest.version_id} does not verify" in captured.err
    pointer = store.read_pointer()
    assert pointer is not None
    assert pointer.version_id == first.manifest.version_id
    assert main(["snapshot", "verify", "words"]) == 0


def test_rollback_is_conditional_on_the_pointer_it_read(world: World) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    first, second, third = publish_versions(world, store, 3)
    world.clients.s3.put_object(Bucket=world.bucket, Key=sqlite_key(second), Body=b"garbage")

    def a_compactor_publishes_meanwhile(version: str, reason: str) -> None:
        del version, reason
        world.clients.s3.put_object(
            Bucket=world.bucket, Key=pointer_key("words"), Body=b"20990101_000000_000000_00000000"
        )

    with pytest.raises(SnapshotConflict):
        store.rollback(on_rejected=a_compactor_publishes_meanwhile)
    pointer = store.read_pointer()
    assert pointer is not None
    assert pointer.version_id == "20990101_000000_000000_00000000"
    assert first.manifest.version_id < third.manifest.version_id
