"""P4 and P5: what publishing and restoring snapshots costs, in the chunked layout.

P4: bytes and PUT requests of a first publish and of a metadata-only publish (20% of the words get a label)
of the same collection, in the chunked layout (``CHUNK_BYTES``) against the layout before chunks (every file
one body, ``chunk_bytes=None``) publishing the same directories, the collection's size and a whole-directory
tar.gz (what upstream uploads every cycle). Goal: a metadata-only publish sends at most 1.1 x (the changed
chunks' stored bytes + the manifest).

P5: a cold restore into an empty EFS cache, and a warm restore of the newer version into a cache holding the
older one, against a plain download (GET, write to a file, with the same number of workers) of the same
stored pieces. Goals: cold <= 1.1x, warm <= 1.2x, and the warm restore downloads at most 1.1 x the changed
chunks' stored bytes.
"""

from __future__ import annotations

import io
import statistics
import tarfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.report import Row
from receipt_compaction.chroma_store import batched, open_chroma, open_collection
from receipt_compaction.snapshot import EFSSnapshotManager, SnapshotStore
from receipt_compaction.snapshot.layout import body_key, manifest_key
from receipt_compaction.snapshot.store import CHUNK_BYTES

if TYPE_CHECKING:
    from pathlib import Path

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.snapshot.manifest import Manifest
    from receipt_compaction.snapshot.store import PublishedVersion

__all__ = ["measure_snapshots"]

PUBLISH_GOAL = 1.1
COLD_GOAL = 1.1
WARM_GOAL = 1.2
WARM_BYTES_GOAL = 1.1


@dataclass
class _Downloads:
    """GetObject responses seen on the client: how many, and their bytes."""

    objects: int = 0
    bytes: int = 0

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetObject":
            self.objects += 1
            self.bytes += int(parsed.get("ContentLength", 0))


def measure_snapshots(
    clients: AwsClients, scratch: Path, *, words: int, dimension: int, repeat: int
) -> list[Row]:
    chunked = _store(clients, chunk_bytes=CHUNK_BYTES)
    whole = _store(clients, chunk_bytes=None)
    directory = scratch / "chroma"
    ids = _build_collection(directory, words, dimension)
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    first = chunked.publish(directory, expected=None, fencing_token=1, count=words)
    whole_first = whole.publish(directory, expected=None, fencing_token=1, count=words)
    with open_chroma(directory) as client:  # a metadata-only compaction: 20% of the words get a label
        labelled = ids[::5]
        open_collection(client, "words").update(
            ids=labelled, metadatas=[{"label_status": "validated", "valid_labels": "TOTAL"}] * len(labelled)
        )
    second = chunked.publish(directory, expected=first.pointer, fencing_token=1, count=words)
    whole_second = whole.publish(directory, expected=whole_first.pointer, fencing_token=1, count=words)
    changed = _pieces(second.manifest) - _pieces(first.manifest)
    ideal = sum(_stored_size(clients, chunked, sha256) for sha256 in changed) + second.manifest_bytes
    rows = _publish_rows(
        (first, second),
        (whole_first, whole_second),
        size=size,
        tarball=_tarball_size(directory),
        ideal=ideal,
        collection=f"{words:,} words, dim {dimension}",
    )
    rows += _restore_rows(clients, scratch, chunked, (first.manifest, second.manifest), repeat)
    return rows


def _store(clients: AwsClients, *, chunk_bytes: int | None) -> SnapshotStore:
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    clients.s3.create_bucket(Bucket=bucket)
    return SnapshotStore(clients.s3, bucket, "words", chunk_bytes=chunk_bytes)


def _pieces(manifest: Manifest) -> set[str]:
    return {chunk.sha256 for entry in manifest.files for chunk in entry.pieces()}


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


def _sent(report: PublishedVersion) -> int:
    return report.uploaded_bytes + report.manifest_bytes + len(report.manifest.version_id)


def _publish_rows(
    chunked: tuple[PublishedVersion, PublishedVersion],
    whole: tuple[PublishedVersion, PublishedVersion],
    *,
    size: int,
    tarball: int,
    ideal: int,
    collection: str,
) -> list[Row]:
    rows = []
    for name, report, old in (
        ("first publish", chunked[0], whole[0]),
        ("metadata-only publish", chunked[1], whole[1]),
    ):
        sent = _sent(report)
        note = (
            f"{report.put_requests} PUTs: {report.uploaded_chunks} pieces of "
            f"{', '.join(path.rsplit('/', 1)[-1] for path in report.uploaded_files) or 'no file'} "
            f"+ manifest ({report.manifest_bytes:,} B) + pointer; {report.list_requests} LIST"
        )
        rows.append(
            Row("P4", f"{name}, bytes uploaded ({collection})", sent, "B", size, "collection size", note=note)
        )
        rows.append(Row("P4", f"{name}, bytes uploaded", sent, "B", tarball, "whole-directory tar.gz, 1 PUT"))
        rows.append(
            Row(
                "P4",
                f"{name}, bytes uploaded",
                sent,
                "B",
                _sent(old),
                f"whole-file layout: {old.put_requests} PUTs",
            )
        )
        rows.append(
            Row(
                "P4",
                f"{name}, PUT requests",
                report.put_requests,
                "",
                old.put_requests,
                "whole-file layout",
            )
        )
        if report is chunked[1]:
            rows.append(
                Row(
                    "P4",
                    f"{name}, bytes uploaded",
                    sent,
                    "B",
                    ideal,
                    "the changed chunks' stored bytes + manifest",
                    goal=PUBLISH_GOAL,
                )
            )
    return rows


def _restore_rows(
    clients: AwsClients, scratch: Path, store: SnapshotStore, versions: tuple[Manifest, Manifest], repeat: int
) -> list[Row]:
    older, newer = versions
    downloads = _Downloads()
    all_pieces = sorted(_pieces(older))
    changed = sorted(_pieces(newer) - _pieces(older))
    clients.s3.meta.events.register("after-call.s3.GetObject", downloads)
    try:
        cold, cold_plain, warm, warm_plain = [], [], [], []
        warm_bytes = warm_objects = cold_objects = 0
        plain = partial(_plain_download, clients, store)
        for attempt in range(repeat):
            cache = EFSSnapshotManager(scratch / f"efs-{attempt}", store)
            before = downloads.objects
            # the baseline runs first and second in turn: neither always meets a warmer server
            if attempt % 2:
                cold_plain.append(_timed(partial(plain, older, all_pieces, scratch / f"plain-{attempt}")))
                cold.append(_timed(partial(cache.ensure_snapshot_available, older.version_id)))
            else:
                cold.append(_timed(partial(cache.ensure_snapshot_available, older.version_id)))
                cold_plain.append(_timed(partial(plain, older, all_pieces, scratch / f"plain-{attempt}")))
            cold_objects = downloads.objects - before - len(all_pieces) - 1
            before_warm = (downloads.objects, downloads.bytes)
            warm.append(_timed(partial(cache.ensure_snapshot_available, newer.version_id)))
            warm_objects, warm_bytes = downloads.objects - before_warm[0], downloads.bytes - before_warm[1]
            warm_plain.append(_timed(partial(plain, newer, changed, scratch / f"plain-w{attempt}")))
    finally:
        clients.s3.meta.events.unregister("after-call.s3.GetObject", downloads)
    changed_stored = sum(_stored_size(clients, store, sha256) for sha256 in changed)
    return [
        Row(
            "P5",
            "cold restore into an empty EFS cache",
            statistics.median(cold),
            "s",
            statistics.median(cold_plain),
            f"plain download, {store.workers} workers: manifest + the same {len(all_pieces)} pieces; "
            f"the restore made {cold_objects} GETs incl. manifest",
            goal=COLD_GOAL,
        ),
        Row(
            "P5",
            "warm restore of the newer version",
            statistics.median(warm),
            "s",
            statistics.median(warm_plain),
            f"plain download: manifest + the {len(changed)} changed pieces",
            goal=WARM_GOAL,
        ),
        Row(
            "P5",
            "warm restore, bytes downloaded",
            warm_bytes,
            "B",
            changed_stored,
            "the changed chunks' stored bytes",
            goal=WARM_BYTES_GOAL,
            note=f"{warm_objects} GETs incl. manifest",
        ),
    ]


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _plain_download(
    clients: AwsClients, store: SnapshotStore, manifest: Manifest, pieces: list[str], target: Path
) -> None:
    """GET the manifest and the stored pieces, each written to a file as it is, with the store's number of
    workers: what a restore must fetch, without decompressing, hashing or placing anything."""
    target.mkdir(parents=True)
    key = manifest_key(store.collection, manifest.version_id)
    (target / "manifest.json").write_bytes(clients.s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())

    def fetch(sha256: str) -> None:
        body = clients.s3.get_object(Bucket=store.bucket, Key=body_key(store.collection, sha256))["Body"]
        (target / sha256).write_bytes(body.read())

    with ThreadPoolExecutor(max_workers=store.workers) as pool:
        list(pool.map(fetch, pieces))


def _stored_size(clients: AwsClients, store: SnapshotStore, sha256: str) -> int:
    return clients.s3.head_object(Bucket=store.bucket, Key=body_key(store.collection, sha256))[
        "ContentLength"
    ]


def _tarball_size(directory: Path) -> int:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(directory, arcname=".")
    return len(buffer.getvalue())
