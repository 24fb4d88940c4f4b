"""Restoring a stored version into a directory: pieces fetched in parallel (or taken from a local cache),
written at their offsets, and every file checked against its sha256 before it is renamed into place."""

from __future__ import annotations

import hashlib
import logging
import os
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError, FlexibleChecksumError

from receipt_compaction.snapshot.bodies import CHUNK, decode_bytes, write_decoded
from receipt_compaction.snapshot.errors import SnapshotIntegrityError, error_code
from receipt_compaction.snapshot.layout import body_key
from receipt_compaction.snapshot.pieces import IN_MEMORY_BYTES, Piece, chunk_name, pieces, read_at

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from receipt_compaction.snapshot.manifest import Manifest, ManifestFile

__all__ = ["LocalCopies", "VersionRestore"]

logger = logging.getLogger(__name__)

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class LocalCopies(Protocol):
    """What a local cache can offer a restore (``EFSSnapshotManager``)."""

    def link(self, entry: ManifestFile, target: Path) -> bool:
        """Put a verified local file with ``entry``'s content at ``target``; False when there is none."""

    def chunk(self, sha256: str) -> tuple[Path, int] | None:
        """A local file and offset that should hold the chunk (a hint: restore hashes what it reads)."""


class VersionRestore:
    """Writes one version's files from S3 (``SnapshotStore.restore`` hands it the manifest it read)."""

    def __init__(self, s3: S3Client, bucket: str, collection: str, *, workers: int) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.collection = collection
        self.workers = workers

    def into(
        self,
        manifest: Manifest,
        destination: Path,
        *,
        local: LocalCopies | None,
        on_file: Callable[[ManifestFile], None] | None,
    ) -> None:
        """Write ``manifest``'s files into ``destination`` (which must not exist); a failure leaves no
        ``.partial`` file behind."""
        destination.mkdir(parents=True)
        try:
            self._restore_files(manifest, destination, local, on_file or (lambda entry: None))
        except BaseException:
            for partial in destination.rglob(".*.partial"):
                partial.unlink(missing_ok=True)
            raise

    def _restore_files(
        self,
        manifest: Manifest,
        destination: Path,
        local: LocalCopies | None,
        on_file: Callable[[ManifestFile], None],
    ) -> None:
        remaining: list[ManifestFile] = []
        for entry in manifest.files:
            target = destination / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.size == 0:
                _write_empty(entry, target, self.collection)
            elif local is None or not local.link(entry, target):
                remaining.append(entry)
                continue
            on_file(entry)
        remaining.sort(key=lambda entry: entry.size, reverse=True)  # shortest makespan
        streamed = [entry for entry in remaining if max(c.size for c in entry.pieces()) > IN_MEMORY_BYTES]
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            whole = [pool.submit(self._restore_streamed, entry, destination) for entry in streamed]
            self._assemble(pool, [e for e in remaining if e not in streamed], destination, local, on_file)
            for entry, future in zip(streamed, whole, strict=True):
                future.result()
                on_file(entry)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _assemble(
        self,
        pool: ThreadPoolExecutor,
        entries: list[ManifestFile],
        destination: Path,
        local: LocalCopies | None,
        on_file: Callable[[ManifestFile], None],
    ) -> None:
        """Fetch and write the pieces in parallel (at most ``4 x workers`` in memory), and hash each file in
        order: the whole file is checked against its sha256 before it is renamed into place.

        Each downloaded chunk is checked on the way by S3's SHA256 checksum of its stored bytes
        (``ChecksumMode``) and gzip's CRC-32 of its raw bytes, and by the file's sha256 with the rest of the
        file: one sha256 pass over the data, not two. When a file does not match, each of its chunks is
        hashed to name the one at fault; a local chunk at fault is fetched from S3 instead."""
        queued = iter(pieces(tuple(entries)))
        window: deque[tuple[Piece, Future[tuple[bytes, bool]]]] = deque()
        writers = {entry.path: _FileWriter(destination / entry.path) for entry in entries}

        def refill() -> None:
            while len(window) < 4 * self.workers and (piece := next(queued, None)) is not None:
                writer = writers[piece.entry.path]
                window.append((piece, pool.submit(self._fetch_piece, piece, local, writer)))

        try:
            refill()
            local_pieces: list[Piece] = []
            while window:
                piece, future = window.popleft()
                data, from_local = future.result()
                refill()
                writer = writers[piece.entry.path]
                writer.digest.update(data)
                if from_local:
                    local_pieces.append(piece)
                if piece.last:
                    if writer.digest.hexdigest() != piece.entry.sha256:
                        self._repair_file(piece.entry, writer, local_pieces)
                    writer.finish()
                    on_file(piece.entry)
                    local_pieces = []
        finally:
            for writer in writers.values():
                writer.close()

    def _fetch_piece(
        self, piece: Piece, local: LocalCopies | None, writer: _FileWriter
    ) -> tuple[bytes, bool]:
        """The piece's raw bytes, written at its offset: from a local copy when one is offered (checked with
        the whole file), else from S3; and whether it came from the local copy."""
        chunk = piece.chunk
        hint = local.chunk(chunk.sha256) if local is not None else None
        data: bytes | None = None
        if hint is not None:
            try:
                with hint[0].open("rb") as handle:
                    data = read_at(handle, hint[1], chunk.size)
            except OSError as error:
                logger.info(
                    "%s chunk %s: cannot read it from %s: %s", self.collection, chunk.sha256, hint[0], error
                )
        from_local = data is not None
        if data is None:
            data = self._download_piece(piece)
        writer.write_at(piece.offset, data)
        return data, from_local

    def _download_piece(self, piece: Piece) -> bytes:
        chunk = piece.chunk
        key = body_key(self.collection, chunk.sha256)
        where = f"{self.collection} file {piece.entry.path!r}: {chunk_name(piece)}s3://{self.bucket}/{key}"
        try:
            # ChecksumMode: botocore checks the body against the checksum S3 kept since the upload.
            stored = self.s3.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")["Body"].read()
            data = decode_bytes(stored)  # gzip checks its CRC-32 of the raw bytes
        except (ValueError, zlib.error, FlexibleChecksumError) as error:
            raise SnapshotIntegrityError(f"{where} is damaged ({error})") from None
        except ClientError as error:
            raise SnapshotIntegrityError(f"{where} cannot be read ({error_code(error)})") from None
        if len(data) != chunk.size:
            raise SnapshotIntegrityError(f"{where} holds {len(data)} bytes, the manifest says {chunk.size}")
        return data

    def _repair_file(self, entry: ManifestFile, writer: _FileWriter, local_pieces: list[Piece]) -> None:
        """The file does not match its sha256: hash each chunk to find the ones at fault. Local ones are
        fetched from S3 instead (a cache that was only a hint); one from S3 is the error, named."""
        from_local = {piece.index for piece in local_pieces}
        for piece in pieces((entry,)):
            data = writer.read_at(piece.offset, piece.chunk.size)
            digest = hashlib.sha256(data).hexdigest()
            if digest == piece.chunk.sha256:
                continue
            if piece.index not in from_local:
                raise SnapshotIntegrityError(
                    f"{self.collection} file {entry.path!r}: sha256 {digest} does not match the manifest's "
                    f"{piece.chunk.sha256} ({len(data)} bytes, {chunk_name(piece)}"
                    f"s3://{self.bucket}/{body_key(self.collection, piece.chunk.sha256)})"
                )
            logger.info(
                "%s file %r: the local copy of chunk %d does not match",
                self.collection,
                entry.path,
                piece.index,
            )
            fresh = self._download_piece(piece)
            if hashlib.sha256(fresh).hexdigest() != piece.chunk.sha256:
                raise SnapshotIntegrityError(
                    f"{self.collection} file {entry.path!r}: {chunk_name(piece)}the copy in S3 does not "
                    f"match the manifest's sha256 {piece.chunk.sha256} either"
                )
            writer.write_at(piece.offset, fresh)
        digest = writer.rehash()
        if digest != entry.sha256:
            raise SnapshotIntegrityError(
                f"{self.collection} file {entry.path!r}: sha256 {digest} does not match the manifest's "
                f"{entry.sha256} (every chunk matched: the manifest contradicts itself)"
            )

    def _restore_streamed(self, entry: ManifestFile, destination: Path) -> None:
        """A file stored whole and too large for memory: streamed from S3, decoded and hashed on the way."""
        target = destination / entry.path
        partial = target.with_name(f".{target.name}.partial")
        key = body_key(self.collection, entry.sha256)
        where = f"{self.collection} file {entry.path!r}: s3://{self.bucket}/{key}"
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")["Body"]
            digest = write_decoded(body.iter_chunks(CHUNK), partial)
        except (ValueError, zlib.error, FlexibleChecksumError) as error:
            partial.unlink(missing_ok=True)
            raise SnapshotIntegrityError(f"{where} is damaged ({error})") from None
        except ClientError as error:
            partial.unlink(missing_ok=True)
            raise SnapshotIntegrityError(f"{where} cannot be read ({error_code(error)})") from None
        if digest != entry.sha256:
            partial.unlink()
            raise SnapshotIntegrityError(
                f"{self.collection} file {entry.path!r}: sha256 {digest} does not match "
                f"the manifest's {entry.sha256}"
            )
        partial.rename(target)


class _FileWriter:
    """A file written piece by piece, at any offset, into a ``.partial`` beside its target, renamed into
    place by ``finish``; ``digest`` is fed by the caller in file order."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.partial = target.with_name(f".{target.name}.partial")
        self.fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.digest = hashlib.sha256()

    def write_at(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            view, offset = view[written:], offset + written

    def read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self.fd, size, offset)

    def rehash(self) -> str:
        digest = hashlib.sha256()
        offset = 0
        while data := os.pread(self.fd, CHUNK, offset):
            digest.update(data)
            offset += len(data)
        return digest.hexdigest()

    def finish(self) -> None:
        self.close()
        self.partial.rename(self.target)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write_empty(entry: ManifestFile, target: Path, collection: str) -> None:
    if entry.sha256 != _EMPTY_SHA256:
        raise SnapshotIntegrityError(
            f"{collection} file {entry.path!r}: the manifest gives an empty file the sha256 {entry.sha256}"
        )
    target.write_bytes(b"")
