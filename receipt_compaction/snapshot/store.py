"""Versioned snapshots of one collection in S3, the source of truth.

Publish: upload the stored pieces no version has yet (files larger than ``chunk_bytes`` are cut into
fixed-size chunks, each content-addressed by its sha256; smaller files are one piece), write the manifest
with ``If-None-Match: *``, then move the pointer with ``If-Match`` on the ETag read before compacting (or
``If-None-Match: *`` for the first version). A writer that lost a race, or whose lease is gone, gets a
``SnapshotConflict`` and has published nothing the pointer names. Restore: pointer -> manifest -> pieces,
every chunk checked (S3's SHA256 of its stored bytes, gzip's CRC-32 of its raw bytes, and its sha256 when its
file does not match) and every file's sha256 checked before the file is used.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import tempfile
import time
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
from receipt_compaction.observe import emit
from receipt_compaction.snapshot.bodies import (
    compress_bytes,
    compress_file,
)
from receipt_compaction.snapshot.errors import (
    SnapshotConflict,
    SnapshotError,
    SnapshotIntegrityError,
    error_code,
)
from receipt_compaction.snapshot.layout import (
    VERSION_ID_PATTERN,
    bodies_prefix,
    body_key,
    manifest_key,
    new_version_id,
    pointer_key,
    versions_prefix,
)
from receipt_compaction.snapshot.manifest import (
    FORMAT_VERSION,
    Manifest,
    ManifestFile,
    scan_directory,
)
from receipt_compaction.snapshot.pieces import IN_MEMORY_BYTES, MAX_CHUNK_BYTES, Piece, pieces, read_at
from receipt_compaction.snapshot.restore import LocalCopies, VersionRestore
from receipt_compaction.snapshot.verify import verify_snapshot

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

__all__ = [
    "CHUNK_BYTES",
    "MAX_PUBLISH",
    "LocalCopies",
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

SQLITE_PAGE = 4096
CHUNK_BYTES = 256 * 1024
"""Files larger than this are stored as chunks of this size. Measured (chromadb 1.5.9, 50,000 vectors of
dimension 16, a 45 MB directory of which ``chroma.sqlite3`` is 32.6 MB; a metadata update of 120 records, two
receipts): chunk size -> chunks changed of all, gzip bytes a metadata-only publish uploads, manifest size:

    64 KiB: 24 of 700, 0.36 MB, ~90 KB      128 KiB: 18 of 351, 0.54 MB, ~45 KB
   256 KiB: 15 of 177, 0.87 MB, ~23 KB      512 KiB: 13 of 91, 1.44 MB, ~12 KB
     1 MiB: 13 of 48, 2.80 MB, ~6 KB        whole files (before): 1 of 6, 7.2 MB (the whole sqlite file)

Bytes uploaded fall about linearly with the chunk size, but PUTs per publish do not (the changed pages are
clustered: 24 vs 15), and every chunk is one GET on a cold restore (700 vs 177) and a manifest line read and
written on every cycle. 256 KiB keeps a metadata-only publish under 1 MB at this size (the goal is 2 MB) with
17 PUTs (15 chunks, manifest, pointer) and a cold restore of 177 GETs; 64 KiB would save 0.5 MB per publish
for 4x the cold-restore requests. A multiple of SQLite's page size, so a changed page changes one chunk."""
MAX_PUBLISH = timedelta(minutes=15)
"""A publish that took longer than this from its first upload to its manifest gives up (SnapshotConflict,
retry): ``retain``'s grace period must exceed it (default: 1 hour), see ``SnapshotStore.retain``."""
DEFAULT_GRACE = timedelta(hours=1)
TRANSFER = TransferConfig(
    multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"})


@dataclass(frozen=True)
class Pointer:
    version_id: str
    etag: str


@dataclass(frozen=True)
class PublishedVersion:
    manifest: Manifest
    pointer: Pointer
    uploaded_files: tuple[str, ...]
    """Files of which at least one piece was uploaded."""
    uploaded_bytes: int
    """Bytes of stored pieces sent (compressed), manifest and pointer not included."""
    put_requests: int
    """PutObject requests (or multipart uploads) of pieces, plus the manifest and the pointer."""
    repaired_files: tuple[str, ...] = ()
    """Files with a piece the parent version used but S3 no longer held intact: uploaded again."""
    uploaded_chunks: int = 0
    """Stored pieces uploaded (``put_requests`` less the manifest and the pointer)."""
    list_requests: int = 0
    """ListObjectsV2 pages read to learn what S3 holds (one per 1,000 stored pieces)."""
    manifest_bytes: int = 0


@dataclass(frozen=True)
class _StoredBody:
    etag: str
    uploaded: int | None
    """Bytes sent by this publish; None when S3 already held the piece intact."""
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
    """Stored pieces (chunks and whole-file bodies) deleted."""


class SnapshotStore:
    """The snapshots of ``collection`` in ``bucket``.

    ``chunk_bytes``: files larger than this are stored as chunks of this size (``CHUNK_BYTES``, chosen by
    measurement); ``None`` stores every file whole (the layout before chunks, kept for comparison).
    """

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        collection: str,
        *,
        workers: int = 4,
        chunk_bytes: int | None = CHUNK_BYTES,
    ) -> None:
        if chunk_bytes is not None and (
            chunk_bytes < SQLITE_PAGE or chunk_bytes % SQLITE_PAGE or chunk_bytes > MAX_CHUNK_BYTES
        ):
            raise ValueError(
                f"chunk_bytes={chunk_bytes}: use a multiple of SQLite's page size ({SQLITE_PAGE}) between "
                f"{SQLITE_PAGE} and {MAX_CHUNK_BYTES}, or None to store whole files"
            )
        self.s3 = s3
        self.bucket = bucket
        self.collection = collection
        self.workers = workers
        self.chunk_bytes = chunk_bytes

    # -- reading ------------------------------------------------------------------------------------------

    def read_pointer(self) -> Pointer | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=pointer_key(self.collection))
        except ClientError as error:
            if error_code(error) in {"NoSuchKey", "404"}:
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
            raise SnapshotError(f"cannot read s3://{self.bucket}/{key}: {error_code(error)}") from None
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

    def stored_pieces(self) -> tuple[dict[str, str], int]:
        """sha256 -> ETag of every stored piece S3 lists (chunks and whole-file bodies), and the number of
        ListObjectsV2 pages that took."""
        prefix = bodies_prefix(self.collection)
        held: dict[str, str] = {}
        pages = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            pages += 1
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if name.endswith(".gz"):
                    held[name.removesuffix(".gz")] = _etag(item["ETag"])
        return held, pages

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
        scanned = scan_directory(directory, chunk_bytes=self.chunk_bytes)
        parent = self.read_manifest(expected.version_id) if expected else None
        started = time.monotonic()
        held, list_requests = self.stored_pieces()
        stored = self._store_pieces(directory, scanned, parent=parent, held=held)
        files = tuple(_with_etags(entry, stored) for entry in scanned)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            version_id=new_version_id(after=expected.version_id if expected else None),
            collection=self.collection,
            created_at=datetime.now(UTC).isoformat(),
            chromadb_version=chromadb.__version__,
            count=count,
            parent_version=expected.version_id if expected else None,
            fencing_token=fencing_token,
            chunk_bytes=self.chunk_bytes,
            files=files,
        )
        uploaded = {sha for sha, body in stored.items() if body.uploaded is not None}
        repaired = {sha for sha, body in stored.items() if body.repaired}
        crash_point("after_bodies")
        if time.monotonic() - started > MAX_PUBLISH.total_seconds():
            raise SnapshotConflict(
                f"publishing {self.collection} took longer than {MAX_PUBLISH} since its first upload: "
                "retention may have collected pieces it uploaded; nothing is current, retry"
            )
        document = manifest.to_json()
        self._put(manifest_key(self.collection, manifest.version_id), document, IfNoneMatch="*")
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
        published = PublishedVersion(
            manifest=manifest,
            pointer=Pointer(manifest.version_id, etag),
            uploaded_files=_files_using(scanned, uploaded),
            uploaded_bytes=sum(body.uploaded or 0 for body in stored.values()),
            put_requests=len(uploaded) + 2,
            repaired_files=_files_using(scanned, repaired),
            uploaded_chunks=len(uploaded),
            list_requests=list_requests,
            manifest_bytes=len(document),
        )
        emit(
            "snapshot.published",
            manifest=manifest,
            uploaded=published.uploaded_files,
            uploaded_bytes=published.uploaded_bytes,
        )
        crash_point("after_pointer")
        return published

    def _forget(self, version_id: str) -> None:
        """Best effort: drop the manifest of a version that lost the race (retention would, later)."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=manifest_key(self.collection, version_id))
        except ClientError as error:
            logger.warning("could not delete the losing manifest %s: %s", version_id, error)

    def _store_pieces(
        self,
        directory: Path,
        files: tuple[ManifestFile, ...],
        *,
        parent: Manifest | None,
        held: dict[str, str],
    ) -> dict[str, _StoredBody]:
        """Make sure S3 holds every piece of ``files``, intact; sha256 -> what S3 holds for it.

        Only pieces the parent version uses are reused without an upload, and only while S3's listing still
        reports the ETag the parent recorded (a format 1 parent: while HEAD reports its SHA256 checksum).
        Every other piece is uploaded, even one S3 lists: it may belong to a version retention is deleting
        right now, and an upload makes it new (``retain`` spares pieces younger than its grace period).
        """
        recorded: dict[str, tuple[str | None, str | None]] = {}
        if parent is not None:
            for entry in parent.files:
                for chunk in entry.pieces():
                    recorded[chunk.sha256] = (chunk.etag, entry.stored_checksum)
        unique: dict[str, Piece] = {}
        for piece in pieces(files):
            unique.setdefault(piece.chunk.sha256, piece)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            stored = list(
                pool.map(
                    lambda piece: self._store_piece(
                        directory, piece, recorded.get(piece.chunk.sha256), held.get(piece.chunk.sha256)
                    ),
                    unique.values(),
                )
            )
        return dict(zip(unique, stored, strict=True))

    def _store_piece(
        self,
        directory: Path,
        piece: Piece,
        recorded: tuple[str | None, str | None] | None,
        listed: str | None,
    ) -> _StoredBody:
        """Upload one piece unless the parent version uses it and S3 provably still holds it intact.

        A damaged or missing parent piece is uploaded again from the local file, whose sha256 was just
        computed from the bytes being published (a repair)."""
        key = body_key(self.collection, piece.chunk.sha256)
        if recorded is not None:
            etag, checksum = recorded
            if etag is not None and listed == etag:
                return _StoredBody(etag, None, repaired=False)
            if etag is None and checksum is not None and listed is not None:  # a format 1 parent
                head = self._head(key)
                if head is not None and head.get("ChecksumSHA256") == checksum:
                    return _StoredBody(_etag(head["ETag"]), None, repaired=False)
            logger.warning(
                "%s piece of %r at s3://%s/%s is damaged or gone (S3 lists ETag %s, the parent version "
                "recorded %s): uploading it again from the verified local copy",
                self.collection,
                piece.entry.path,
                self.bucket,
                key,
                listed,
                etag or checksum,
            )
        source = directory / piece.entry.path
        if piece.chunk.size <= IN_MEMORY_BYTES:
            with source.open("rb") as handle:
                packed = compress_bytes(read_at(handle, piece.offset, piece.chunk.size))
            # S3 checks the body against our checksum and keeps it: later readers ask it to check again.
            response = self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=packed,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(hashlib.sha256(packed).digest()).decode(),
            )
            return _StoredBody(_etag(response["ETag"]), len(packed), repaired=recorded is not None)
        with tempfile.TemporaryDirectory(prefix="body-") as scratch:  # a whole file too large for memory
            packed_path = Path(scratch) / "body.gz"
            size = compress_file(source, packed_path)
            # a multipart upload: S3 keeps a checksum of the parts' checksums, and a multipart ETag
            self.s3.upload_file(
                str(packed_path), self.bucket, key, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Config=TRANSFER
            )
        head = self._head(key)
        if head is None:
            raise SnapshotError(f"s3://{self.bucket}/{key} is gone right after its upload")
        return _StoredBody(_etag(head["ETag"]), size, repaired=recorded is not None)

    def _head(self, key: str) -> dict[str, Any] | None:
        """HEAD with S3's checksum; None when the object is missing."""
        try:
            return dict(self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"))
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def _put(self, key: str, body: str, **condition: Any) -> str:
        try:
            etag: str = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), **condition)[
                "ETag"
            ]
        except ClientError as error:
            if error_code(error) in _CONFLICT_CODES:
                raise SnapshotConflict(
                    f"s3://{self.bucket}/{key} changed since it was read ({error_code(error)}): another "
                    "compactor published first; nothing of this attempt is current, retry"
                ) from None
            raise
        return etag

    # -- restoring ----------------------------------------------------------------------------------------

    def restore(
        self,
        version_id: str,
        destination: Path,
        *,
        local: LocalCopies | None = None,
        on_file: Callable[[ManifestFile], None] | None = None,
    ) -> Manifest:
        """Write the version's files into ``destination`` (which must not exist), every chunk's and every
        file's sha256 checked (``restore.VersionRestore``).

        ``local`` may link verified local files with the same content and offer local copies of chunks (a
        warm cache fetches only the chunks it does not hold); ``on_file(entry)`` is called as each file is
        done (for progress bars)."""
        manifest = self.read_manifest(version_id)
        restorer = VersionRestore(self.s3, self.bucket, self.collection, workers=self.workers)
        restorer.into(manifest, destination, local=local, on_file=on_file)
        return manifest

    # -- verifying and rolling back -----------------------------------------------------------------------

    def verify_version(self, version_id: str) -> Manifest:
        """Download the version into a scratch directory, every chunk's and file's sha256 checked, and open
        it in a child process (``verify_snapshot``); raise SnapshotIntegrityError or
        SnapshotVerificationError naming the problem."""
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

    def retain(self, *, keep: int = 4, grace: timedelta = DEFAULT_GRACE) -> RetentionReport:
        """Keep the pointer's version and its ``keep - 1`` nearest ancestors; delete every older version (and
        orphans of lost races), then every stored piece (chunk or whole-file body) no kept version uses that
        is older than ``grace``.

        Safe with concurrent publishers, by a grace period rather than a mark the publisher leaves (a mark
        would be one more request per publish, and a publisher that dies leaves it behind; the grace period
        costs nothing and needs no cleanup). It holds because of what a publish reuses:

        - a publish reuses without uploading only the pieces of its parent, the version the pointer named
          when it started; it can only win while the pointer still names that version, and retention never
          deletes the pointer's version's pieces (if the pointer moved, the publish loses and references
          nothing current);
        - every other piece it references it uploads, even one S3 already lists, so its LastModified is the
          publish's own time; a publish that takes longer than ``MAX_PUBLISH`` (15 min) gives up before
          writing its manifest, so with ``grace`` above that its pieces are never old enough to collect
          before its manifest is written;
        - once its manifest is written, the version is newer than the pointer (or is the pointer): kept,
          with every piece it uses.

        Versions are listed before pieces, so a manifest written after the listing has pieces still inside
        the grace period. A ``grace`` shorter than ``MAX_PUBLISH`` is only safe with no publisher running.
        """
        pointer = self.read_pointer()
        if pointer is None:
            return RetentionReport((), (), 0)
        versions = self.versions()
        manifests: dict[str, Manifest] = {}
        kept = self._ancestry(pointer.version_id, keep, manifests)
        kept |= {version for version in versions if version > pointer.version_id}
        doomed = [version for version in versions if version not in kept]
        if not doomed:  # nothing to delete yet; unused pieces wait for the next version that goes
            return RetentionReport(tuple(sorted(kept)), (), 0)
        used = {
            body_key(self.collection, chunk.sha256)
            for version in sorted(kept)
            for entry in (manifests.get(version) or self.read_manifest(version)).files
            for chunk in entry.pieces()
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
        for start in range(0, len(stale), 1000):  # DeleteObjects takes up to 1,000 keys
            batch = stale[start : start + 1000]
            self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
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


def _with_etags(entry: ManifestFile, stored: dict[str, _StoredBody]) -> ManifestFile:
    chunks = tuple(
        chunk.model_copy(update={"etag": stored[chunk.sha256].etag}) for chunk in entry.chunks or ()
    )
    return entry.model_copy(update={"chunks": chunks})


def _files_using(files: tuple[ManifestFile, ...], pieces: set[str]) -> tuple[str, ...]:
    return tuple(entry.path for entry in files if any(chunk.sha256 in pieces for chunk in entry.pieces()))


def _etag(value: str) -> str:
    return value.strip('"')
