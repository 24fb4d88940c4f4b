"""``receipt-compaction snapshot ...``: list, verify, pull, diff and roll back the versions of a collection.

The snapshot package imports chromadb, so it is imported when a command runs (``open_store``), never when
the parser is built: ``--help`` works with the base install, and a command without the ``compaction`` extra
is one line. Snapshot errors become the CLI's: a file or a directory that does not verify fails the check
(exit 1), anything else the store refuses means the command could not run (exit 3).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from receipt_compaction.aws import AwsClients
from receipt_compaction.cli.output import CheckFailed, CommandError, Output, progress, requires_extra

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator

    from receipt_compaction.snapshot import Manifest, SnapshotStore

    Run = Callable[[argparse.Namespace, SnapshotStore, Output], int]

__all__ = ["add_snapshot_commands", "open_store", "resolve_region"]


def add_snapshot_commands(subparsers: Any) -> None:
    snapshot = subparsers.add_parser("snapshot", help="inspect the versioned snapshots in S3")
    commands = snapshot.add_subparsers(dest="snapshot_command", required=True)
    listing = commands.add_parser("list", help="versions, the pointer, sizes, counts and fencing tokens")
    listing.add_argument("collection")
    listing.set_defaults(run=run_list)
    verify = commands.add_parser(
        "verify", help="download a version, check every chunk's and file's sha256, open it in a subprocess"
    )
    verify.add_argument("collection")
    verify.add_argument("--version", help="a version id (default: the one the pointer names)")
    verify.set_defaults(run=run_verify)
    pull = commands.add_parser("pull", help="download a version into a directory (it must not exist)")
    pull.add_argument("collection")
    pull.add_argument("directory", type=Path)
    pull.add_argument("--version", help="a version id (default: the one the pointer names)")
    pull.set_defaults(run=run_pull)
    diff = commands.add_parser("diff", help="files and counts that differ between two versions")
    diff.add_argument("collection")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.set_defaults(run=run_diff)
    rollback = commands.add_parser(
        "rollback",
        help="move the pointer back to the newest older version that verifies (or --to VERSION), "
        "conditionally on the pointer not having moved meanwhile",
    )
    rollback.add_argument("collection")
    rollback.add_argument("--to", help="the version to move the pointer to (it must verify)")
    rollback.set_defaults(run=run_rollback)
    for command in (listing, verify, pull, diff, rollback):
        command.add_argument("--bucket", help="the snapshot bucket (default: $CHROMADB_BUCKET)")
        command.add_argument(
            "--region",
            help="the bucket's AWS region (default: $AWS_REGION, else boto3's own: "
            "$AWS_DEFAULT_REGION or the profile's region)",
        )


def open_store(arguments: argparse.Namespace) -> SnapshotStore:
    """The store of ``arguments.collection`` in the bucket and region the options and environment name."""
    with requires_extra(f"snapshot {arguments.snapshot_command}", "compaction"):
        from receipt_compaction.snapshot import SnapshotStore  # noqa: PLC0415 - imports chromadb

    bucket = arguments.bucket or os.environ.get("CHROMADB_BUCKET")
    if not bucket:
        raise CommandError("no bucket: pass --bucket or set CHROMADB_BUCKET")
    region = resolve_region(arguments.region)
    return SnapshotStore(AwsClients.connect(region_name=region).s3, bucket, arguments.collection)


def resolve_region(option: str | None) -> str:
    """``--region``, else ``AWS_REGION``, else boto3's resolution (``AWS_DEFAULT_REGION``, the profile's
    ``region``); boto3 itself does not read ``AWS_REGION``, which Lambda and most SDKs set."""
    region = option or os.environ.get("AWS_REGION") or boto3.session.Session().region_name
    if not region:
        raise CommandError("no AWS region: set AWS_REGION or pass --region")
    return region


def _snapshot_errors(run: Run) -> Run:
    """``run`` with the snapshot package's errors turned into the CLI's."""

    @functools.wraps(run)
    def translated(arguments: argparse.Namespace, store: SnapshotStore, output: Output) -> int:
        with _translated_errors():
            return run(arguments, store, output)

    return translated


@contextmanager
def _translated_errors() -> Iterator[None]:
    # Imported here: the store exists, so chromadb is installed.
    from receipt_compaction.snapshot import SnapshotError, SnapshotIntegrityError  # noqa: PLC0415
    from receipt_compaction.snapshot.verify import SnapshotVerificationError  # noqa: PLC0415

    try:
        yield
    except (SnapshotIntegrityError, SnapshotVerificationError) as error:
        raise CheckFailed(str(error)) from error
    except SnapshotError as error:
        raise CommandError(str(error)) from error


@_snapshot_errors
def run_list(arguments: argparse.Namespace, store: SnapshotStore, output: Output) -> int:
    pointer = store.read_pointer()
    rows = []
    for version in store.versions():
        manifest = store.read_manifest(version)
        rows.append(
            {
                "version": version,
                "current": pointer is not None and pointer.version_id == version,
                "count": manifest.count,
                "bytes": manifest.total_bytes,
                "files": len(manifest.files),
                "chunks": manifest.chunk_count,
                "fencing_token": manifest.fencing_token,
                "parent": manifest.parent_version,
            }
        )
    current = pointer.version_id if pointer else None
    output.table(rows, title=f"{store.collection} in s3://{store.bucket} (pointer: {current})")
    return 0


@_snapshot_errors
def run_verify(arguments: argparse.Namespace, store: SnapshotStore, output: Output) -> int:
    from receipt_compaction.snapshot import verify_snapshot  # noqa: PLC0415 - imports chromadb

    version = _version(arguments, store)
    with tempfile.TemporaryDirectory(prefix="verify-") as scratch:
        manifest = _download(store, version, Path(scratch) / "chroma", output)
        report = verify_snapshot(Path(scratch) / "chroma", store.collection, expected_count=manifest.count)
    output.result(
        {
            "version": version,
            "files": len(manifest.files),
            "chunks": manifest.chunk_count,
            "count": report.count,
            "sha256": "ok",
            "opens": "ok",
        },
        text=f"{store.collection} {version}: {len(manifest.files)} files ({manifest.chunk_count} chunks), "
        f"sha256 ok, opens with {report.count} records",
    )
    return 0


@_snapshot_errors
def run_pull(arguments: argparse.Namespace, store: SnapshotStore, output: Output) -> int:
    version = _version(arguments, store)
    if arguments.directory.exists():
        raise CommandError(f"{arguments.directory} already exists: pull into a new directory")
    manifest = _download(store, version, arguments.directory, output)
    output.result(
        {"version": version, "directory": str(arguments.directory), "bytes": manifest.total_bytes},
        text=f"{store.collection} {version}: {manifest.total_bytes:,} bytes in {arguments.directory}",
    )
    return 0


@_snapshot_errors
def run_diff(arguments: argparse.Namespace, store: SnapshotStore, output: Output) -> int:
    old, new = store.read_manifest(arguments.old), store.read_manifest(arguments.new)
    before = {entry.path: entry for entry in old.files}
    after = {entry.path: entry for entry in new.files}
    changed = sorted(
        path for path in before.keys() & after.keys() if before[path].sha256 != after[path].sha256
    )
    result = {
        "old": old.version_id,
        "new": new.version_id,
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": changed,
        "count": {"old": old.count, "new": new.count, "delta": new.count - old.count},
        "changed_bytes": sum(after[path].size for path in changed),
    }
    lines = [f"{old.version_id} -> {new.version_id}: count {old.count} -> {new.count}"]
    lines += [f"  {kind} {path}" for kind in ("added", "removed", "changed") for path in result[kind]]  # type: ignore[attr-defined]
    output.result(result, text="\n".join(lines))
    return 0


@_snapshot_errors
def run_rollback(arguments: argparse.Namespace, store: SnapshotStore, output: Output) -> int:
    def rejected(version: str, reason: str) -> None:
        print(f"{store.collection} {version} does not verify: {reason}", file=sys.stderr)

    done = store.rollback(to=arguments.to, on_rejected=rejected)
    output.result(
        {
            "previous": done.previous,
            "pointer": done.pointer.version_id,
            "rejected": [version for version, _ in done.rejected],
        },
        text=f"{store.collection} pointer moved from {done.previous} to {done.pointer.version_id} "
        f"(verified: sha256 ok, opens)",
    )
    return 0


def _version(arguments: argparse.Namespace, store: SnapshotStore) -> str:
    if arguments.version:
        return str(arguments.version)
    pointer = store.read_pointer()
    if pointer is None:
        raise CommandError(f"no {store.collection!r} snapshot is published in s3://{store.bucket}")
    return pointer.version_id


def _download(store: SnapshotStore, version: str, target: Path, output: Output) -> Manifest:
    manifest = store.read_manifest(version)
    with progress(output, total=manifest.total_bytes, description=f"{store.collection} {version}") as bar:
        store.restore(version, target, on_file=lambda entry: bar.update(entry.size))
    return manifest
