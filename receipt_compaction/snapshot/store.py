"""Versioned snapshots of one collection in S3, the source of truth.

Publish: upload the bodies no version has yet (content-addressed by sha256), write the manifest with
``If-None-Match: *``, then move the pointer with ``If-Match`` on the ETag read before compacting (or
``If-None-Match: *`` for the first version). A writer that lost a race, or whose lease is gone, gets a
``SnapshotConflict`` and has published nothing the pointer names. Restore: pointer -> manifest -> bodies,
each sha256 checked before the file is used.
"""

from __future__ import annotations

import base64
import hashlib
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
from botocore.exceptions import ClientError, FlexibleChecksumError
from pydantic import ValidationError

from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.crashpoints import crash_point
from receipt_compaction.observe import emit
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
from receipt_compaction.snapshot.verify import verify_snapshot

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

__all__ = [
    "Pointer",
    "PublishedVersion",
    "RetentionReport",
    "Rollback",
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
    repaired_files: tuple[str, ...] = ()
    """Files whose body the parent version used but S3 no longer held intact: uploaded again."""


@dataclass(frozen=True)
class _StoredBody:
    checksum: str
    """S3's SHA256 checksum of the stored body (base64, as S3 reports it)."""
    uploaded: int | None
    """Bytes sent by this publish; None when S3 already held the body intact."""
    repaired: bool


@dataclass(frozen=True)
class Rollback:
    previous: str
    """The version the pointer named before."""
    pointer: Pointer
    rejected: tuple[tuple[str, str], ...]
    """Newer versions that did not verify, with the reason."""


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
        scanned = scan_directory(directory)
        parent = self.read_manifest(expected.version_id) if expected else None
        stored = self._store_bodies(directory, scanned, parent=parent)
        files = tuple(
            entry.model_copy(update={"stored_checksum": stored[entry.sha256].checksum}) for entry in scanned
        )
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
        uploaded = [entry for entry in files if stored[entry.sha256].uploaded is not None]
        uploaded = list({entry.sha256: entry for entry in uploaded}.values())
        stored_bytes = sum(body.uploaded or 0 for body in stored.values())
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
        emit("snapshot.published", manifest=manifest, uploaded=uploaded, uploaded_bytes=stored_bytes)
        crash_point("after_pointer")
        return PublishedVersion(
            manifest=manifest,
            pointer=Pointer(manifest.version_id, etag),
            uploaded_files=tuple(entry.path for entry in uploaded),
            uploaded_bytes=stored_bytes,
            put_requests=len(uploaded) + 2,
            repaired_files=tuple(entry.path for entry in uploaded if stored[entry.sha256].repaired),
        )

    def _forget(self, version_id: str) -> None:
        """Best effort: drop the manifest of a version that lost the race (retention would, later)."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=manifest_key(self.collection, version_id))
        except ClientError as error:
            logger.warning("could not delete the losing manifest %s: %s", version_id, error)

    def _store_bodies(
        self, directory: Path, files: tuple[ManifestFile, ...], *, parent: Manifest | None
    ) -> dict[str, _StoredBody]:
        """Make sure S3 holds every body of ``files``, intact; sha256 -> what S3 holds for it."""
        reported = {entry.sha256: entry.stored_checksum for entry in parent.files} if parent else {}
        unique = list({entry.sha256: entry for entry in files}.values())
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            stored = list(
                pool.map(lambda entry: self._store_body(directory, entry, reported.get(entry.sha256)), unique)
            )
        return {entry.sha256: body for entry, body in zip(unique, stored, strict=True)}

    def _store_body(self, directory: Path, entry: ManifestFile, parent_checksum: str | None) -> _StoredBody:
        """Upload one body unless S3 provably holds it already.

        A body the parent version uses is reused only when S3 still reports the checksum the parent's
        manifest recorded for it (one HEAD); otherwise it is damaged or gone, and the local file, whose
        sha256 was just computed from the bytes being published, is uploaded again (a repair). A body new to
        this version is looked for first only when large: a small one costs less to PUT again (same content,
        same key) than to ask about (benchmarks P1).
        """
        key = body_key(self.collection, entry.sha256)
        repaired = False
        if parent_checksum is not None:
            found = self._stored_checksum(key)
            if found == parent_checksum:
                return _StoredBody(found, None, repaired=False)
            logger.warning(
                "%s body of %r at s3://%s/%s is damaged or gone (S3 reports checksum %s, the parent version "
                "recorded %s): uploading it again from the verified local copy",
                self.collection,
                entry.path,
                self.bucket,
                key,
                found,
                parent_checksum,
            )
            repaired = True
        with tempfile.TemporaryDirectory(prefix="body-") as scratch:
            packed = Path(scratch) / "body.gz"
            size = compress_file(directory / entry.path, packed)
            checksum = _base64_sha256(packed)
            if not repaired and entry.size >= HEAD_FIRST_BYTES and self._stored_checksum(key) == checksum:
                return _StoredBody(checksum, None, repaired=False)
            if size < TRANSFER.multipart_threshold:
                # One PUT: s3transfer would start a thread pool of its own for each file (benchmarks P1).
                # S3 checks the body against our checksum and keeps it: later readers ask it to check again.
                with packed.open("rb") as body:
                    self.s3.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=body,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=checksum,
                    )
            else:  # a multipart upload: S3 keeps a checksum of the parts' checksums, which HEAD reports
                self.s3.upload_file(
                    str(packed), self.bucket, key, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Config=TRANSFER
                )
                checksum = self._stored_checksum(key) or checksum
        return _StoredBody(checksum, size, repaired=repaired)

    def _stored_checksum(self, key: str) -> str | None:
        """The SHA256 checksum S3 keeps for ``key``; None when the object is missing or has none."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as error:
            if _code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return head.get("ChecksumSHA256")

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
            if file_sha256(partial) == entry.sha256:
                partial.rename(target)
                return
            logger.warning(
                "%s file %r: the local copy %s does not match its sha256; downloading it instead",
                self.collection,
                entry.path,
                local,
            )
        key = body_key(self.collection, entry.sha256)
        try:
            # ChecksumMode: botocore checks the body against the checksum S3 kept since the upload.
            body = self.s3.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")["Body"]
            digest = write_decoded(body.iter_chunks(CHUNK), partial)
        except (ValueError, zlib.error, FlexibleChecksumError) as error:
            partial.unlink(missing_ok=True)
            raise SnapshotIntegrityError(
                f"{self.collection} file {entry.path!r}: s3://{self.bucket}/{key} is damaged ({error})"
            ) from None
        except ClientError as error:
            partial.unlink(missing_ok=True)
            raise SnapshotIntegrityError(
                f"{self.collection} file {entry.path!r}: s3://{self.bucket}/{key} cannot be read "
                f"({_code(error)})"
            ) from None
        if digest != entry.sha256:
            partial.unlink()
            raise SnapshotIntegrityError(
                f"{self.collection} file {entry.path!r}: sha256 {digest} does not match "
                f"the manifest's {entry.sha256}"
            )
        partial.rename(target)

    # -- verifying and rolling back -----------------------------------------------------------------------

    def verify_version(self, version_id: str) -> Manifest:
        """Download the version into a scratch directory, every sha256 checked, and open it in a child
        process (``verify_snapshot``); raise SnapshotIntegrityError or SnapshotVerificationError naming the
        problem."""
        with tempfile.TemporaryDirectory(prefix="verify-") as scratch:
            manifest = self.restore(version_id, Path(scratch) / "chroma")
            verify_snapshot(Path(scratch) / "chroma", self.collection, expected_count=manifest.count)
        return manifest

    def rollback(
        self, *, to: str | None = None, on_rejected: Callable[[str, str], None] | None = None
    ) -> Rollback:
        """Move the pointer back to ``to``, or to the newest version older than the pointer's that
        verifies (``verify_version``); conditionally (``If-Match`` on the pointer's ETag read first), like
        every pointer write: a compactor that published meanwhile wins, and this raises SnapshotConflict.

        ``on_rejected(version_id, reason)`` hears about each version that did not verify."""
        pointer = self.read_pointer()
        if pointer is None:
            raise SnapshotError(f"no {self.collection!r} snapshot is published in s3://{self.bucket}")
        versions = self.versions()
        if to is not None:
            if to not in versions:
                raise SnapshotError(f"{self.collection} has no version {to} in s3://{self.bucket}")
            candidates = [to]
        else:
            candidates = [version for version in reversed(versions) if version < pointer.version_id]
        rejected: list[tuple[str, str]] = []
        for version in candidates:
            try:
                self.verify_version(version)
            except (SnapshotError, RuntimeError) as error:  # SnapshotVerificationError is a RuntimeError
                rejected.append((version, str(error)))
                if on_rejected is not None:
                    on_rejected(version, str(error))
                continue
            etag = self._put(pointer_key(self.collection), version, IfMatch=pointer.etag)
            logger.warning(
                "%s pointer rolled back from %s to %s", self.collection, pointer.version_id, version
            )
            return Rollback(pointer.version_id, Pointer(version, etag), tuple(rejected))
        tried = ", ".join(f"{version} ({reason})" for version, reason in rejected) or "none older"
        raise SnapshotIntegrityError(
            f"no {self.collection} version to roll back to: the pointer stays at {pointer.version_id}; "
            f"tried {tried}"
        )

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


def _base64_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
