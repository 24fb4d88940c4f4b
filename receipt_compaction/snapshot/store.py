"""Versioned snapshots of one collection in S3, the source of truth.

Publish: upload the bodies no version has yet (content-addressed by sha256), write the manifest with
``If-None-Match: *``, then move the pointer with ``If-Match`` on the ETag read before compacting (or
``If-None-Match: *`` for the first version). A writer that lost a race, or whose lease is gone, gets a
``SnapshotConflict`` and has published nothing the pointer names. Restore: pointer -> manifest -> bodies,
each sha256 checked before the file is used.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chromadb
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from pydantic import ValidationError

from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.crashpoints import crash_point
from receipt_compaction.snapshot.bodies import CHUNK, compress_file, write_decoded
from receipt_compaction.snapshot.layout import (
    VERSION_ID_PATTERN,
    bodies_prefix,
    body_key,
    manifest_key,
    new_version_id,
    pointer_key,
    versions_prefix,
)
from receipt_compaction.snapshot.manifest import Manifest, ManifestFile, file_sha256, scan_directory

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

__all__ = [
    "Pointer",
    "PublishedVersion",
    "RetentionReport",
    "SnapshotConflict",
    "SnapshotError",
    "SnapshotIntegrityError",
    "SnapshotStore",
    "empty_snapshot_dir",
]

logger = logging.getLogger(__name__)

TRANSFER = TransferConfig(
    multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)
HEAD_FIRST_BYTES = 256 * 1024
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"})


class SnapshotError(RuntimeError):
    """A snapshot could not be published or restored."""


class SnapshotConflict(SnapshotError):
    """Another writer moved the pointer first, or this writer no longer holds the lease; retry."""


class SnapshotIntegrityError(SnapshotError):
    """A stored file does not match its manifest."""


@dataclass(frozen=True)
class Pointer:
    version_id: str
    etag: str


@dataclass(frozen=True)
class PublishedVersion:
    manifest: Manifest
    pointer: Pointer
    uploaded_files: tuple[str, ...]
    uploaded_bytes: int
    """Bytes of file bodies sent (compressed), manifest and pointer not included."""
    put_requests: int


@dataclass(frozen=True)
class RetentionReport:
    kept: tuple[str, ...]
    deleted_versions: tuple[str, ...]
    deleted_bodies: int


class SnapshotStore:
    """The snapshots of ``collection`` in ``bucket``."""

    def __init__(self, s3: S3Client, bucket: str, collection: str, *, workers: int = 4) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.collection = collection
        self.workers = workers

    # -- reading ------------------------------------------------------------------------------------------

    def read_pointer(self) -> Pointer | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=pointer_key(self.collection))
        except ClientError as error:
            if _code(error) in {"NoSuchKey", "404"}:
                return None
            raise
        version_id = response["Body"].read().decode().strip()
        if not VERSION_ID_PATTERN.fullmatch(version_id):
            raise SnapshotError(
                f"s3://{self.bucket}/{pointer_key(self.collection)} holds {version_id!r}, no version id"
            )
        return Pointer(version_id, response["ETag"])

    def read_manifest(self, version_id: str) -> Manifest:
        key = manifest_key(self.collection, version_id)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return Manifest.model_validate_json(body)
        except ClientError as error:
            raise SnapshotError(f"cannot read s3://{self.bucket}/{key}: {_code(error)}") from None
        except ValidationError as error:
            raise SnapshotIntegrityError(
                f"s3://{self.bucket}/{key} is not a valid manifest: {error}"
            ) from None

    def versions(self) -> list[str]:
        """Every version with a manifest, oldest first."""
        prefix = versions_prefix(self.collection)
        found = {
            item["Key"][len(prefix) :].split("/", 1)[0]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if item["Key"].endswith("/manifest.json")
        }
        return sorted(version for version in found if VERSION_ID_PATTERN.fullmatch(version))

    # -- publishing ---------------------------------------------------------------------------------------

    def publish(
        self,
        directory: Path,
        *,
        expected: Pointer | None,
        fencing_token: int,
        count: int,
        guard: Callable[[], None] | None = None,
    ) -> PublishedVersion:
        """Publish the closed Chroma directory as a new version and move the pointer to it.

        ``expected`` is the pointer read before the work started (None: there was none); ``guard`` runs just
        before the pointer moves and raises if the writer may no longer publish (its lease is gone).
        """
        files = scan_directory(directory)
        manifest = Manifest(
            version_id=new_version_id(after=expected.version_id if expected else None),
            collection=self.collection,
            created_at=datetime.now(UTC).isoformat(),
            chromadb_version=chromadb.__version__,
            count=count,
            parent_version=expected.version_id if expected else None,
            fencing_token=fencing_token,
            files=files,
        )
        known = (
            {entry.sha256 for entry in self.read_manifest(expected.version_id).files} if expected else set()
        )
        uploaded, stored_bytes = self._upload_missing_bodies(directory, files, known=known)
        crash_point("after_bodies")
        self._put(
            manifest_key(self.collection, manifest.version_id),
            manifest.model_dump_json(indent=1),
            IfNoneMatch="*",
        )
        crash_point("after_manifest")
        try:
            if guard is not None:
                guard()
            crash_point("before_pointer")
            condition = {"IfMatch": expected.etag} if expected else {"IfNoneMatch": "*"}
            etag = self._put(pointer_key(self.collection), manifest.version_id, **condition)
        except Exception:
            self._forget(manifest.version_id)  # this version will never be current
            raise
        crash_point("after_pointer")
        return PublishedVersion(
            manifest=manifest,
            pointer=Pointer(manifest.version_id, etag),
            uploaded_files=tuple(entry.path for entry in uploaded),
            uploaded_bytes=stored_bytes,
            put_requests=len(uploaded) + 2,
        )

    def _forget(self, version_id: str) -> None:
        """Best effort: drop the manifest of a version that lost the race (retention would, later)."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=manifest_key(self.collection, version_id))
        except ClientError as error:
            logger.warning("could not delete the losing manifest %s: %s", version_id, error)

    def _upload_missing_bodies(
        self, directory: Path, files: tuple[ManifestFile, ...], *, known: set[str]
    ) -> tuple[list[ManifestFile], int]:
        """Upload the bodies S3 lacks; ``known`` ones (the parent version's) are there without asking."""
        unique = [entry for entry in {e.sha256: e for e in files}.values() if entry.sha256 not in known]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            stored = list(pool.map(lambda entry: self._upload_body(directory, entry), unique))
        uploaded = [entry for entry, size in zip(unique, stored, strict=True) if size is not None]
        return uploaded, sum(size for size in stored if size is not None)

    def _upload_body(self, directory: Path, entry: ManifestFile) -> int | None:
        """Upload one body and return its stored size; None when S3 already had it.

        Only a large body is looked for first: a small one costs less to PUT again (same content, same key)
        than to ask about (benchmarks P1).
        """
        if entry.size >= HEAD_FIRST_BYTES and self._exists(body_key(self.collection, entry.sha256)):
            return None
        with tempfile.TemporaryDirectory(prefix="body-") as scratch:
            packed = Path(scratch) / "body.gz"
            stored = compress_file(directory / entry.path, packed)
            key = body_key(self.collection, entry.sha256)
            if stored < TRANSFER.multipart_threshold:
                # One PUT: s3transfer would start a thread pool of its own for each file (benchmarks P1).
                with packed.open("rb") as body:
                    self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            else:
                self.s3.upload_file(str(packed), self.bucket, key, Config=TRANSFER)
        return stored

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def _put(self, key: str, body: str, **condition: Any) -> str:
        try:
            etag: str = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), **condition)[
                "ETag"
            ]
        except ClientError as error:
            if _code(error) in _CONFLICT_CODES:
                raise SnapshotConflict(
                    f"s3://{self.bucket}/{key} changed since it was read ({_code(error)}): another compactor "
                    "published first; nothing of this attempt is current, retry"
                ) from None
            raise
        return etag

    # -- restoring ----------------------------------------------------------------------------------------

    def restore(
        self,
        version_id: str,
        destination: Path,
        *,
        reuse: Callable[[str], Path | None] | None = None,
        on_file: Callable[[ManifestFile], None] | None = None,
    ) -> Manifest:
        """Write the version's files into ``destination`` (which must not exist), every sha256 checked.

        ``reuse(sha256)`` may name a local file with that content (a cached version's), to copy instead of
        downloading it; ``on_file(entry)`` is called as each file is done (for progress bars).
        """
        manifest = self.read_manifest(version_id)
        destination.mkdir(parents=True)

        def restore_one(entry: ManifestFile) -> None:
            self._restore_file(entry, destination, reuse)
            if on_file is not None:
                on_file(entry)

        largest_first = sorted(
            manifest.files, key=lambda entry: entry.size, reverse=True
        )  # shortest makespan
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(restore_one, largest_first))
        return manifest

    def _restore_file(
        self, entry: ManifestFile, destination: Path, reuse: Callable[[str], Path | None] | None
    ) -> None:
        target = destination / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        local = reuse(entry.sha256) if reuse else None
        if local is not None:
            shutil.copyfile(local, partial)
            digest = file_sha256(partial)
        else:
            key = body_key(self.collection, entry.sha256)
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
                digest = write_decoded(body.iter_chunks(CHUNK), partial)
            except (ValueError, zlib.error) as error:
                partial.unlink(missing_ok=True)
                raise SnapshotIntegrityError(
                    f"{self.collection} file {entry.path!r}: s3://{self.bucket}/{key} is damaged ({error})"
                ) from None
        if digest != entry.sha256:
            partial.unlink()
            raise SnapshotIntegrityError(
                f"{self.collection} file {entry.path!r}: sha256 {digest} does not match "
                f"the manifest's {entry.sha256}"
            )
        partial.rename(target)

    # -- retention ----------------------------------------------------------------------------------------

    def retain(self, *, keep: int = 4, grace: timedelta = timedelta(hours=1)) -> RetentionReport:
        """Keep the pointer's version and its ``keep - 1`` nearest ancestors; delete every older version (and
        orphans of lost races), then every body no kept version uses that is older than ``grace``.

        Versions newer than the pointer are a publish in flight (its manifest is written, the pointer not yet
        moved): they and the bodies they use are left alone.
        """
        pointer = self.read_pointer()
        if pointer is None:
            return RetentionReport((), (), 0)
        versions = self.versions()
        manifests: dict[str, Manifest] = {}
        kept = self._ancestry(pointer.version_id, keep, manifests)
        kept |= {version for version in versions if version > pointer.version_id}
        doomed = [version for version in versions if version not in kept]
        if not doomed:  # nothing to delete yet; unused bodies wait for the next version that goes
            return RetentionReport(tuple(sorted(kept)), (), 0)
        used = {
            body_key(self.collection, entry.sha256)
            for version in sorted(kept)
            for entry in (manifests.get(version) or self.read_manifest(version)).files
        }
        for version in doomed:
            self.s3.delete_object(Bucket=self.bucket, Key=manifest_key(self.collection, version))
        cutoff = datetime.now(UTC) - grace
        prefix = bodies_prefix(self.collection)
        stale = [
            item["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if item["Key"] not in used and item["LastModified"] < cutoff
        ]
        for key in stale:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        return RetentionReport(tuple(sorted(kept)), tuple(doomed), len(stale))

    def _ancestry(self, version_id: str, keep: int, manifests: dict[str, Manifest]) -> set[str]:
        chain: set[str] = set()
        current: str | None = version_id
        while current is not None and len(chain) < max(1, keep):
            chain.add(current)
            manifests[current] = self.read_manifest(current)
            current = manifests[current].parent_version
        return chain


def empty_snapshot_dir(collection: str, parent: Path) -> Path:
    """A closed Chroma directory holding one empty ``collection``, for the very first version."""
    directory = Path(tempfile.mkdtemp(prefix=f"empty-{collection}-", dir=parent))
    with open_chroma(directory) as client:
        open_collection(client, collection)
    return directory


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
