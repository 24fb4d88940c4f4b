"""A version's manifest: every file with its size and sha256, how it is stored, and what the version holds.

Format 2 (``format_version: 2``) lists each file's stored pieces: a file larger than the store's chunk size
is cut into fixed-size chunks, each stored content-addressed by its own sha256; a smaller file is one chunk
whose sha256 is the file's. Format 1 (the field absent: manifests written before chunks) stores every file as
one body named by the file's sha256; it still restores.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from receipt_compaction.snapshot.layout import VERSION_ID_PATTERN

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "ChunkRef",
    "Manifest",
    "ManifestFile",
    "file_sha256",
    "scan_directory",
]

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 2
"""1: one body per file (no ``format_version`` field). 2: files list their chunks."""
_READ = 1024 * 1024
_SHA256 = r"^[0-9a-f]{64}$"


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ValueError(f"{value!r} is not a relative path inside the snapshot")
    return value


class ChunkRef(BaseModel):
    """One stored piece of a file: ``size`` raw bytes whose sha256 names the stored (gzip) object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: Annotated[str, Field(pattern=_SHA256)]
    size: Annotated[int, Field(ge=1)]
    etag: str | None = None
    """The ETag S3 gave the stored object when it was uploaded; a later writer reuses the object only while
    S3's listing still reports it (a damaged or replaced object gets another ETag)."""


class ManifestFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Annotated[str, AfterValidator(_relative_path)]
    size: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=_SHA256)]
    stored_checksum: str | None = None
    """Format 1: S3's own SHA256 checksum of the stored (compressed) body, as S3 reported it when the body
    was uploaded (``ChecksumSHA256``); a later writer reuses the body only while S3 still reports it."""
    chunks: tuple[ChunkRef, ...] | None = None
    """Format 2: the file's pieces in order (every one ``chunk_bytes`` long but the last); one piece with the
    file's own sha256 when the file is stored whole; none for an empty file."""

    @model_validator(mode="after")
    def _chunks_cover_the_file(self) -> Self:
        if self.chunks is not None and sum(chunk.size for chunk in self.chunks) != self.size:
            held = sum(chunk.size for chunk in self.chunks)
            raise ValueError(f"{self.path!r}: its chunks hold {held} bytes, the file {self.size}")
        if self.chunks is not None and len(self.chunks) == 1 and self.chunks[0].sha256 != self.sha256:
            raise ValueError(f"{self.path!r}: stored whole, its one chunk must carry the file's sha256")
        return self

    def pieces(self) -> tuple[ChunkRef, ...]:
        """What is stored for this file, in order: its chunks, or (format 1) one body named by its sha256.
        An empty file needs nothing stored: restore writes it (format 1 stored a body for it anyway)."""
        if self.chunks is not None:
            return self.chunks
        return (ChunkRef(sha256=self.sha256, size=self.size),) if self.size else ()


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Annotated[int, Field(ge=1)] = 1
    version_id: Annotated[str, Field(pattern=f"^{VERSION_ID_PATTERN.pattern}$")]
    collection: str
    created_at: str
    chromadb_version: str
    count: Annotated[int, Field(ge=0)]
    parent_version: str | None
    fencing_token: Annotated[int, Field(ge=0)]
    chunk_bytes: Annotated[int, Field(ge=1)] | None = None
    """Format 2: the chunk size the writer cut files with (None: every file stored whole)."""
    files: tuple[ManifestFile, ...]

    @model_validator(mode="after")
    def _known_format(self) -> Self:
        if self.format_version > FORMAT_VERSION:
            raise ValueError(
                f"manifest format {self.format_version} is newer than this receipt-compaction reads "
                f"({FORMAT_VERSION}): upgrade receipt-compaction to restore version {self.version_id}"
            )
        if self.format_version == 1 and any(entry.chunks is not None for entry in self.files):
            raise ValueError("a format 1 manifest cannot list chunks")
        return self

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)

    @property
    def chunk_count(self) -> int:
        """Stored objects the version's files need (a body or chunk used twice counts twice)."""
        return sum(len(entry.pieces()) for entry in self.files)

    def to_json(self) -> str:
        """Format 2 is written compact (a large collection lists hundreds of chunks); format 1 as before."""
        if self.format_version == 1:
            return self.model_dump_json(indent=1, exclude={"format_version", "chunk_bytes"})
        return self.model_dump_json()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


def scan_file(path: Path, relative: str, chunk_bytes: int | None) -> ManifestFile:
    """Hash the file once: its sha256 and, when it is larger than ``chunk_bytes``, each chunk's."""
    size = path.stat().st_size
    if chunk_bytes is None or size <= chunk_bytes:
        sha256 = file_sha256(path)
        chunks = (ChunkRef(sha256=sha256, size=size),) if size else ()
        return ManifestFile(path=relative, size=size, sha256=sha256, chunks=chunks)
    whole = hashlib.sha256()
    found = []
    with path.open("rb") as handle:
        while piece := handle.read(chunk_bytes):
            whole.update(piece)
            found.append(ChunkRef(sha256=hashlib.sha256(piece).hexdigest(), size=len(piece)))
    return ManifestFile(path=relative, size=size, sha256=whole.hexdigest(), chunks=tuple(found))


def scan_directory(directory: Path, *, chunk_bytes: int | None = None) -> tuple[ManifestFile, ...]:
    """Every regular file below ``directory``, sorted by path, with its chunks (format 2)."""
    return tuple(
        scan_file(path, path.relative_to(directory).as_posix(), chunk_bytes)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    )
