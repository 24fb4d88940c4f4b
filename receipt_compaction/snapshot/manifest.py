"""A version's manifest: every file with its size and sha256, plus what the version holds."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from receipt_compaction.snapshot.layout import VERSION_ID_PATTERN

__all__ = ["MANIFEST_NAME", "Manifest", "ManifestFile", "file_sha256", "scan_directory"]

MANIFEST_NAME = "manifest.json"
_CHUNK = 1024 * 1024


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ValueError(f"{value!r} is not a relative path inside the snapshot")
    return value


class ManifestFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Annotated[str, AfterValidator(_relative_path)]
    size: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    stored_checksum: str | None = None
    """S3's own SHA256 checksum of the stored (compressed) body, as S3 reported it when the body was
    uploaded (``ChecksumSHA256``); a later writer reuses the body only while S3 still reports it."""


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version_id: Annotated[str, Field(pattern=f"^{VERSION_ID_PATTERN.pattern}$")]
    collection: str
    created_at: str
    chromadb_version: str
    count: Annotated[int, Field(ge=0)]
    parent_version: str | None
    fencing_token: Annotated[int, Field(ge=0)]
    files: tuple[ManifestFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan_directory(directory: Path) -> tuple[ManifestFile, ...]:
    """Every regular file below ``directory``, sorted by path."""
    return tuple(
        ManifestFile(
            path=path.relative_to(directory).as_posix(), size=path.stat().st_size, sha256=file_sha256(path)
        )
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    )
