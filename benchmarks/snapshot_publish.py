"""P4/P5 (first cut): bytes and objects uploaded by a first and a metadata-only publish, against the
collection's size and a whole-directory tar.gz (what upstream uploads every cycle); and a cold restore into
an empty EFS cache against a plain download of the same bytes.

    python -m benchmarks.snapshot_publish [--words 5000] [--dimension 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from pytest_receipt_compaction.executors import MotoServerExecutor
from receipt_compaction.aws import AwsClients
from receipt_compaction.chroma_store import batched, open_chroma, open_collection
from receipt_compaction.snapshot import EFSSnapshotManager, SnapshotStore
from receipt_compaction.snapshot.layout import body_key


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--dimension", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with MotoServerExecutor(region="us-east-1") as backend, tempfile.TemporaryDirectory() as scratch:
        clients = AwsClients.connect(**backend.client_kwargs())
        run(clients, Path(scratch), words=args.words, dimension=args.dimension, repeat=args.repeat)


def run(clients: AwsClients, scratch: Path, *, words: int, dimension: int, repeat: int) -> None:
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    clients.s3.create_bucket(Bucket=bucket)
    directory = scratch / "chroma"
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
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    store = SnapshotStore(clients.s3, bucket, "words")
    first = store.publish(directory, expected=None, fencing_token=1, count=words)
    with open_chroma(directory) as client:  # a metadata-only compaction: 20% of the words get a label
        open_collection(client, "words").update(
            ids=ids[::5], metadatas=[{"label_status": "validated", "valid_labels": ["TOTAL"]}] * len(ids[::5])
        )
    second = store.publish(directory, expected=first.pointer, fencing_token=1, count=words)
    tarball = _tarball_size(directory)
    files = len(first.manifest.files)
    print(f"collection: {words} words, dimension {dimension}, {size:,} bytes in {files} files")
    print(f"whole-directory tar.gz (uploaded every cycle upstream): {tarball:,} bytes, 1 object")
    for name, report in (("first publish", first), ("metadata-only publish", second)):
        changed = sum(entry.size for entry in report.manifest.files if entry.path in report.uploaded_files)
        manifest = len(report.manifest.model_dump_json(indent=1))
        names = ", ".join(path.rsplit("/", 1)[-1] for path in report.uploaded_files)
        print(
            f"{name}: {report.put_requests} PUTs: bodies {report.uploaded_bytes:,} bytes gzip "
            f"({changed:,} raw: {names}), "
            f"manifest {manifest:,}, pointer {len(report.manifest.version_id)}; "
            f"{report.uploaded_bytes / size:.2f}x the collection, "
            f"{report.uploaded_bytes / tarball:.2f}x the tarball"
        )
    cold, plain = [], []
    for attempt in range(repeat):
        started = time.perf_counter()
        EFSSnapshotManager(scratch / f"efs-{attempt}", store).ensure_snapshot_available(
            second.manifest.version_id
        )
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        for entry in second.manifest.files:
            clients.s3.get_object(Bucket=bucket, Key=body_key("words", entry.sha256))["Body"].read()
        plain.append(time.perf_counter() - started)
    c, p = statistics.median(cold), statistics.median(plain)
    print(
        f"cold restore into an empty EFS cache: median {c:.3f} s; plain download of the same bytes: {p:.3f} s"
    )
    print(f"restore / plain download = {c / p:.2f}x")


def _tarball_size(directory: Path) -> int:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(directory, arcname=".")
    return len(buffer.getvalue())


if __name__ == "__main__":
    main()
