"""P4 and P5: what publishing and restoring snapshots costs.

P4: bytes and objects uploaded by a first publish and by a metadata-only publish (20% of the words get a
label) of the same collection, against the collection's size and a whole-directory tar.gz (what upstream
uploads every cycle). Goal: metadata-only publish <= 1.1 x (changed files + manifest).

P5: a cold restore into an empty EFS cache, and a warm restore of the newer version into a cache holding the
older one, against a plain download (GET, write to a file) of the same objects. Goal <= 1.2x cold; the warm
restore downloads only the changed bodies.
"""

from __future__ import annotations

import io
import statistics
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.report import Row
from receipt_compaction.chroma_store import batched, open_chroma, open_collection
from receipt_compaction.snapshot import EFSSnapshotManager, SnapshotStore
from receipt_compaction.snapshot.layout import body_key, manifest_key

if TYPE_CHECKING:
    from pathlib import Path

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.snapshot.manifest import Manifest
    from receipt_compaction.snapshot.store import PublishedVersion

__all__ = ["measure_snapshots"]

PUBLISH_GOAL = 1.1
COLD_GOAL = 1.2


@dataclass
class _Downloads:
    """GetObject responses seen on the client: how many, and their bytes."""

    objects: int = 0
    bytes: int = 0
    keys: list[str] = field(default_factory=list)

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetObject":
            self.objects += 1
            self.bytes += int(parsed.get("ContentLength", 0))


def measure_snapshots(
    clients: AwsClients, scratch: Path, *, words: int, dimension: int, repeat: int
) -> list[Row]:
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    clients.s3.create_bucket(Bucket=bucket)
    directory = scratch / "chroma"
    ids = _build_collection(directory, words, dimension)
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    store = SnapshotStore(clients.s3, bucket, "words")
    first = store.publish(directory, expected=None, fencing_token=1, count=words)
    with open_chroma(directory) as client:  # a metadata-only compaction: 20% of the words get a label
        labelled = ids[::5]
        open_collection(client, "words").update(
            ids=labelled, metadatas=[{"label_status": "validated", "valid_labels": "TOTAL"}] * len(labelled)
        )
    second = store.publish(directory, expected=first.pointer, fencing_token=1, count=words)
    collection = f"{words:,} words, dim {dimension}"
    rows = _publish_rows(first, second, size=size, tarball=_tarball_size(directory), collection=collection)
    rows += _restore_rows(clients, scratch, store, (first.manifest, second.manifest), repeat)
    return rows


def _build_collection(directory: Path, words: int, dimension: int) -> list[str]:
    ids = [f"word-{n:06d}" for n in range(words)]
    rng = np.random.default_rng(1)
    with open_chroma(directory) as client:
        collection = open_collection(client, "words")
        for chunk in batched(ids):
            collection.add(
                ids=list(chunk),
                embeddings=rng.standard_normal((len(chunk), dimension)).astype(np.float32),
                documents=[f"text {i}" for i in chunk],
                metadatas=[{"text": f"text {i}", "label_status": "unvalidated"} for i in chunk],
            )
    return ids


def _publish_rows(
    first: PublishedVersion, second: PublishedVersion, *, size: int, tarball: int, collection: str
) -> list[Row]:
    rows = []
    for name, report in (("first publish", first), ("metadata-only publish", second)):
        manifest = len(report.manifest.model_dump_json(indent=1))
        pointer = len(report.manifest.version_id)
        sent = report.uploaded_bytes + manifest + pointer
        changed = sum(entry.size for entry in report.manifest.files if entry.path in report.uploaded_files)
        names = ", ".join(path.rsplit("/", 1)[-1] for path in report.uploaded_files)
        note = f"{report.put_requests} PUTs: {names} + manifest + pointer"
        rows.append(
            Row("P4", f"{name}, bytes uploaded ({collection})", sent, "B", size, "collection size", note=note)
        )
        rows.append(Row("P4", f"{name}, bytes uploaded", sent, "B", tarball, "whole-directory tar.gz, 1 PUT"))
        if report is second:
            rows.append(
                Row(
                    "P4",
                    f"{name}, bytes uploaded",
                    sent,
                    "B",
                    changed + manifest,
                    "changed files + manifest",
                    goal=PUBLISH_GOAL,
                )
            )
    return rows


def _restore_rows(
    clients: AwsClients, scratch: Path, store: SnapshotStore, versions: tuple[Manifest, Manifest], repeat: int
) -> list[Row]:
    older, newer = versions
    downloads = _Downloads()
    clients.s3.meta.events.register("after-call.s3.GetObject", downloads)
    try:
        cold, cold_plain, warm, warm_plain = [], [], [], []
        warm_bytes = warm_objects = 0
        changed = [entry for entry in newer.files if entry.sha256 not in {e.sha256 for e in older.files}]
        for attempt in range(repeat):
            cache = EFSSnapshotManager(scratch / f"efs-{attempt}", store)
            cold.append(_timed(partial(cache.ensure_snapshot_available, older.version_id)))
            plain = partial(_plain_download, clients, store)
            cold_plain.append(_timed(partial(plain, older, older.files, scratch / f"plain-{attempt}")))
            before = (downloads.objects, downloads.bytes)
            warm.append(_timed(partial(cache.ensure_snapshot_available, newer.version_id)))
            warm_objects, warm_bytes = downloads.objects - before[0], downloads.bytes - before[1]
            warm_plain.append(_timed(partial(plain, newer, changed, scratch / f"plain-w{attempt}")))
    finally:
        clients.s3.meta.events.unregister("after-call.s3.GetObject", downloads)
    changed_stored = sum(_stored_size(clients, store, entry.sha256) for entry in changed)
    return [
        Row(
            "P5",
            "cold restore into an empty EFS cache",
            statistics.median(cold),
            "s",
            statistics.median(cold_plain),
            "plain download: manifest + the same bodies",
            goal=COLD_GOAL,
        ),
        Row(
            "P5",
            "warm restore of the newer version",
            statistics.median(warm),
            "s",
            statistics.median(warm_plain),
            "plain download: manifest + the changed bodies",
        ),
        Row(
            "P5",
            "warm restore, bytes downloaded",
            warm_bytes,
            "B",
            changed_stored,
            "the changed bodies' stored bytes",
            note=f"{warm_objects} GETs incl. manifest",
        ),
    ]


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _plain_download(
    clients: AwsClients, store: SnapshotStore, manifest: Manifest, entries: Any, target: Path
) -> None:
    """GET the manifest and the bodies, each written to a file as it is: what a restore must fetch, without
    decompressing, hashing or placing anything."""
    target.mkdir(parents=True)
    key = manifest_key(store.collection, manifest.version_id)
    (target / "manifest.json").write_bytes(clients.s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    for entry in entries:
        body = clients.s3.get_object(Bucket=store.bucket, Key=body_key(store.collection, entry.sha256))[
            "Body"
        ]
        (target / entry.sha256).write_bytes(body.read())


def _stored_size(clients: AwsClients, store: SnapshotStore, sha256: str) -> int:
    return clients.s3.head_object(Bucket=store.bucket, Key=body_key(store.collection, sha256))[
        "ContentLength"
    ]


def _tarball_size(directory: Path) -> int:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(directory, arcname=".")
    return len(buffer.getvalue())
