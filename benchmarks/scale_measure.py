"""One Scale point: a built collection published, changed by the two-receipt compaction (in a child process),
published again, and restored cold and warm, for one snapshot layout. Everything is counted on the boto3
clients that do the work (botocore event hooks) against a moto server in its own process."""

from __future__ import annotations

import json
import shutil
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmarks.children import run_child
from benchmarks.scale_child import RequestCounter
from receipt_compaction.snapshot import EFSSnapshotManager, SnapshotStore
from receipt_compaction.snapshot.layout import manifest_key, pointer_key

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from benchmarks.scale_world import BuiltCollection
    from receipt_compaction.aws import AwsClients
    from receipt_compaction.harness.backends import Backend

__all__ = ["Layout", "Point", "measure_point"]

WORKERS = 4


@dataclass(frozen=True)
class Layout:
    name: str
    store_options: dict[str, Any]


@dataclass
class Point:
    """Every measure of one (collection, layout). Bytes are HTTP body bytes as counted on the client."""

    words: int
    dimension: int
    layout: str
    disk_bytes: int
    build_s: float
    first_publish_bytes: int = 0
    first_publish_s: float = 0.0
    publish_bytes: int = 0
    publish_requests: dict[str, int] = field(default_factory=dict)
    publish_s: float = 0.0
    compact_s: float = 0.0
    peak_mib: float = 0.0
    cold_s: float = 0.0
    cold_bytes: int = 0
    plain_s: float = 0.0
    warm_s: float = 0.0
    warm_bytes: int = 0
    warm_gets: int = 0
    changed_bytes: int = 0
    """Stored bytes of the objects the metadata-only publish added, manifest and pointer not included."""
    manifest_bytes: int = 0

    @property
    def publish_request_count(self) -> int:
        return sum(self.publish_requests.values())


@dataclass
class _Gets:
    """GetObject calls on a client: their keys and the bytes of their bodies."""

    keys: list[str] = field(default_factory=list)
    bytes: int = 0

    def key(self, params: dict[str, Any], **_: Any) -> None:
        self.keys.append(params["Key"])

    def body(self, parsed: dict[str, Any], **_: Any) -> None:
        self.bytes += int(parsed.get("ContentLength", 0))


def measure_point(
    backend: Backend,
    clients: AwsClients,
    built: BuiltCollection,
    layout: Layout,
    *,
    table: str,
    scratch: Path,
    repeat: int,
) -> Point:
    point = Point(built.words, built.dimension, layout.name, _disk_bytes(built.directory), built.seconds)
    bucket = f"scale-{uuid.uuid4().hex[:8]}"
    clients.s3.create_bucket(Bucket=bucket)
    store = SnapshotStore(clients.s3, bucket, "words", workers=WORKERS, **layout.store_options)
    counter = RequestCounter()
    with _hooked(clients.s3, ("before-send.s3", counter)):
        started = time.perf_counter()
        first = store.publish(built.directory, expected=None, fencing_token=1, count=built.words)
        point.first_publish_s = time.perf_counter() - started
    point.first_publish_bytes = counter.sent_bytes
    before = _objects(clients.s3, bucket)
    work = scratch / "work"
    shutil.copytree(built.directory, work)
    child = _run_child(backend, built, layout, table=table, bucket=bucket, work=work, pointer=first.pointer)
    shutil.rmtree(work)
    point.compact_s, point.publish_s, point.peak_mib = (
        child["compact_s"],
        child["publish_s"],
        child["peak_mib"],
    )
    point.publish_bytes = child["requests"]["sent_bytes"]
    point.publish_requests = child["requests"]["methods"]
    added = {key: size for key, size in _objects(clients.s3, bucket).items() if key not in before}
    newer = child["version_id"]
    point.manifest_bytes = added.pop(manifest_key("words", newer), 0)
    added.pop(pointer_key("words"), None)
    point.changed_bytes = sum(added.values())
    _measure_restores(
        point, clients, store, (first.manifest.version_id, newer), scratch=scratch, repeat=repeat
    )
    return point


def _measure_restores(
    point: Point,
    clients: AwsClients,
    store: SnapshotStore,
    versions: tuple[str, str],
    *,
    scratch: Path,
    repeat: int,
) -> None:
    older, newer = versions
    cold, plain, warm = [], [], []
    for attempt in range(repeat):
        root = scratch / f"efs-{attempt}"
        gets = _Gets()
        with _gets_hooked(clients.s3, gets):
            started = time.perf_counter()
            EFSSnapshotManager(root / "cold", store).ensure_snapshot_available(newer)
            cold.append(time.perf_counter() - started)
        point.cold_bytes = gets.bytes
        plain.append(_plain_download(clients.s3, store.bucket, gets.keys, root / "plain"))
        cache = EFSSnapshotManager(root / "warm", store)
        cache.ensure_snapshot_available(older)
        gets = _Gets()
        with _gets_hooked(clients.s3, gets):
            started = time.perf_counter()
            cache.ensure_snapshot_available(newer)
            warm.append(time.perf_counter() - started)
        point.warm_bytes, point.warm_gets = gets.bytes, len(gets.keys)
        shutil.rmtree(root)
    point.cold_s, point.plain_s, point.warm_s = (statistics.median(v) for v in (cold, plain, warm))


def _plain_download(s3: S3Client, bucket: str, keys: list[str], target: Path) -> float:
    """GET the same objects the cold restore got, each written to a file as it is, with as many threads as
    the restore uses: the download a restore cannot avoid, without decompressing, hashing or placing."""
    target.mkdir(parents=True)

    def fetch(numbered: tuple[int, str]) -> None:
        n, key = numbered
        (target / str(n)).write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(fetch, enumerate(keys)))
    return time.perf_counter() - started


def _run_child(
    backend: Backend,
    built: BuiltCollection,
    layout: Layout,
    *,
    table: str,
    bucket: str,
    work: Path,
    pointer: Any,
) -> dict[str, Any]:
    spec = work.parent / "child-spec.json"
    spec.write_text(
        json.dumps(
            {
                "client_kwargs": backend.client_kwargs(),  # moto's endpoint and its test credentials
                "table": table,
                "bucket": bucket,
                "words": built.words,
                "directory": str(work),
                "pointer": {"version_id": pointer.version_id, "etag": pointer.etag},
                "store_options": {"workers": WORKERS, **layout.store_options},
            }
        )
    )
    report: dict[str, Any] = json.loads(run_child("scale_child", [str(spec)], timeout=1800))
    return report


def _objects(s3: S3Client, bucket: str) -> dict[str, int]:
    return {
        item["Key"]: item["Size"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    }


def _disk_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


@contextmanager
def _hooked(s3: S3Client, *handlers: tuple[str, Any]) -> Iterator[None]:
    """Register each (event, handler) on the client for the block."""
    for event, handler in handlers:
        s3.meta.events.register(event, handler)
    try:
        yield
    finally:
        for event, handler in handlers:
            s3.meta.events.unregister(event, handler)


def _gets_hooked(s3: S3Client, gets: _Gets) -> AbstractContextManager[None]:
    return _hooked(
        s3, ("before-parameter-build.s3.GetObject", gets.key), ("after-call.s3.GetObject", gets.body)
    )
