"""Fetching a delta Chroma directory from S3 and merging it into the working collection.

A delta lives under ``{collection}/delta/{run_id}/`` either as ``delta.tar.gz`` or as a plain directory of
files. A delta is untrusted input:

- it is fetched within limits (``DeltaLimits``: total bytes, members, bytes per file), checked while the
  bytes stream in and before they reach the disk: a tar member's size is checked from its header before a
  byte of it is written, the decompressed stream itself is bounded (a gzip bomb stops at the limit), and a
  tarball with too many members stops at the first one over;
- nothing from S3 may land outside the directory it is fetched into: a tar member or key that would
  (absolute, ``..``, a link, a device) fails the delta, and nothing outside the scratch directory is written;
- it is opened by Chroma only in a child process (``read_delta``, through ``delta_reader``: a child forked
  for that one delta from a long-lived process that has chromadb imported): Chroma's HNSW reader is native
  code that trusts its files, and a damaged one segfaults whoever opens it. The records cross back as
  plain JSON values, are checked, and only then are upserted into the working collection.
"""

from __future__ import annotations

import gzip
import math
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from receipt_compaction.chroma_store import ChildFailed, batched
from receipt_compaction.compaction.delta_reader import read_in_forked_child
from receipt_compaction.entities.runs import DELTA_TARBALL as TARBALL_NAME

if TYPE_CHECKING:
    from collections.abc import Mapping

    from chromadb.api.models.Collection import Collection
    from mypy_boto3_s3 import S3Client

__all__ = [
    "DeltaError",
    "DeltaLimits",
    "DeltaRecords",
    "download_delta",
    "merge_delta",
    "read_delta",
    "safe_extract",
]

CHROMA_DATABASE = "chroma.sqlite3"
SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 1024 * 1024
_HEADER_ALLOWANCE = 64 * 1024
"""Decompressed bytes allowed per member beyond its data: its header(s), padding and pax records."""

ENV_MAX_BYTES = "COMPACTION_DELTA_MAX_BYTES"
ENV_MAX_FILE_BYTES = "COMPACTION_DELTA_MAX_FILE_BYTES"
ENV_MAX_MEMBERS = "COMPACTION_DELTA_MAX_MEMBERS"
ENV_OPEN_TIMEOUT = "COMPACTION_DELTA_OPEN_TIMEOUT"


class DeltaError(RuntimeError):
    """A delta that is missing, unsafe, too large or broken; the run it belongs to stays PENDING."""


@dataclass(frozen=True, kw_only=True)
class DeltaLimits:
    """What one delta may hold. A delta is one run's new embeddings: a Chroma directory of a sqlite file and
    one HNSW segment (five files and a folder), a few MB for thousands of words. The defaults leave two
    orders of magnitude of room and still stop a hostile archive long before it fills ``/tmp``."""

    max_bytes: int = 256 * 1024 * 1024
    """All files together, as extracted (``COMPACTION_DELTA_MAX_BYTES``)."""
    max_file_bytes: int = 256 * 1024 * 1024
    """One file, as extracted (``COMPACTION_DELTA_MAX_FILE_BYTES``)."""
    max_members: int = 64
    """Tar members (files and folders) or S3 objects (``COMPACTION_DELTA_MAX_MEMBERS``)."""
    open_timeout: float = 120.0
    """Seconds the child process may take to read the delta (``COMPACTION_DELTA_OPEN_TIMEOUT``)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> DeltaLimits:
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            max_bytes=int(_positive(env, ENV_MAX_BYTES, defaults.max_bytes)),
            max_file_bytes=int(_positive(env, ENV_MAX_FILE_BYTES, defaults.max_file_bytes)),
            max_members=int(_positive(env, ENV_MAX_MEMBERS, defaults.max_members)),
            open_timeout=_positive(env, ENV_OPEN_TIMEOUT, defaults.open_timeout),
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise DeltaError(
            f"environment variable {name}={raw!r} must be a positive number (default {default:g})"
        )
    return value


# -- fetching -----------------------------------------------------------------------------------------------


def download_delta(
    s3: S3Client, bucket: str, prefix: str, destination: Path, *, limits: DeltaLimits | None = None
) -> Path:
    """Fetch the delta under ``prefix`` into ``destination`` within ``limits`` (default: from the
    environment); returns the directory holding the database."""
    limits = limits or DeltaLimits.from_environ()
    where = f"s3://{bucket}/{prefix}"
    objects = _list_objects(s3, bucket, prefix, limits, where)
    if not objects:
        raise DeltaError(f"no delta at {where}: the prefix holds no objects")
    destination.mkdir(parents=True, exist_ok=True)
    if prefix + TARBALL_NAME in objects:
        body = s3.get_object(Bucket=bucket, Key=prefix + TARBALL_NAME)["Body"]
        try:
            extract_stream(body, destination, limits=limits)
        finally:
            body.close()
    else:
        _check_directory_listing(objects, limits, where)
        for key in objects:
            target = destination / _safe_relative(key[len(prefix) :], f"key s3://{bucket}/{key}")
            target.parent.mkdir(parents=True, exist_ok=True)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            try:  # the object may have grown since it was listed: the limit holds while it streams
                _copy_bounded(body, target, limit=limits.max_file_bytes, what=f"s3://{bucket}/{key}")
            finally:
                body.close()
    return _database_dir(destination, where)


def safe_extract(archive: Path, destination: Path, *, limits: DeltaLimits | None = None) -> None:
    """Extract a local .tar.gz whose members are all plain files or directories inside ``destination``."""
    with archive.open("rb") as stream:
        extract_stream(stream, destination, limits=limits or DeltaLimits.from_environ())


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _Bounded:
    """A reader that refuses to go past ``limit`` bytes: it never asks ``inner`` for more than one byte over,
    so a decompressor behind it never inflates more than that into memory."""

    def __init__(self, inner: _Readable, *, limit: int, what: str) -> None:
        self.inner = inner
        self.limit = limit
        self.what = what
        self.seen = 0

    def read(self, size: int = -1) -> bytes:
        room = self.limit - self.seen + 1
        data = self.inner.read(room if size is None or size < 0 or size > room else size)
        self.seen += len(data)
        if self.seen > self.limit:
            raise DeltaError(f"{self.what} is larger than the limit of {self.limit:,} bytes")
        return data


def extract_stream(stream: _Readable, destination: Path, *, limits: DeltaLimits) -> None:
    """Extract the gzip-compressed tar read from ``stream`` into ``destination``, checking each member's
    type, path and size from its header before any of its bytes are written."""
    raw_limit = limits.max_bytes + limits.max_members * _HEADER_ALLOWANCE
    compressed = _Bounded(stream, limit=raw_limit, what=TARBALL_NAME)
    try:
        with gzip.GzipFile(fileobj=compressed, mode="rb") as unzipped:  # type: ignore[call-overload]
            decoded = _Bounded(unzipped, limit=raw_limit, what=f"{TARBALL_NAME} once decompressed")
            with tarfile.open(fileobj=decoded, mode="r|") as tar:  # type: ignore[call-overload]
                _extract_members(tar, destination, limits)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DeltaError(f"{TARBALL_NAME} cannot be read: {error}") from None


def _extract_members(tar: tarfile.TarFile, destination: Path, limits: DeltaLimits) -> None:
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > limits.max_members:
            raise DeltaError(f"{TARBALL_NAME} has more than {limits.max_members} members (the limit)")
        if not (member.isfile() or member.isdir()):
            raise DeltaError(f"{TARBALL_NAME} member {member.name!r} is not a plain file or directory")
        relative = _safe_relative(member.name, f"{TARBALL_NAME} member")
        target = destination / relative
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if member.size > limits.max_file_bytes:
            raise DeltaError(
                f"{TARBALL_NAME} member {member.name!r} is {member.size:,} bytes, over the per-file limit "
                f"of {limits.max_file_bytes:,} ({ENV_MAX_FILE_BYTES})"
            )
        total += member.size
        if total > limits.max_bytes:
            raise DeltaError(
                f"{TARBALL_NAME} holds more than {limits.max_bytes:,} bytes (the limit, {ENV_MAX_BYTES}) "
                f"by member {member.name!r}"
            )
        source = tar.extractfile(member)
        if source is None:  # pragma: no cover - a regular file always has a reader
            raise DeltaError(f"{TARBALL_NAME} member {member.name!r} cannot be read")
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_bounded(source, target, limit=member.size, what=f"{TARBALL_NAME} member {member.name!r}")


def _copy_bounded(source: _Readable | BinaryIO, target: Path, *, limit: int, what: str) -> None:
    reader = _Bounded(source, limit=limit, what=what)
    with target.open("wb") as out:
        while chunk := reader.read(_CHUNK):
            out.write(chunk)


def _list_objects(s3: S3Client, bucket: str, prefix: str, limits: DeltaLimits, where: str) -> dict[str, int]:
    """Key -> size of every object under the prefix, refusing to list past the member limit."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    found: dict[str, int] = {}
    for page in pages:
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                found[item["Key"]] = item.get("Size", 0)
        if len(found) > limits.max_members:
            raise DeltaError(f"the delta at {where} has more than {limits.max_members} objects (the limit)")
    return found


def _check_directory_listing(objects: dict[str, int], limits: DeltaLimits, where: str) -> None:
    for key, size in objects.items():
        if size > limits.max_file_bytes:
            raise DeltaError(
                f"s3://.../{key} is {size:,} bytes, over the per-file limit of {limits.max_file_bytes:,} "
                f"({ENV_MAX_FILE_BYTES})"
            )
    if sum(objects.values()) > limits.max_bytes:
        raise DeltaError(
            f"the delta at {where} holds {sum(objects.values()):,} bytes, over the limit of "
            f"{limits.max_bytes:,} ({ENV_MAX_BYTES})"
        )


def _safe_relative(name: str, what: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise DeltaError(f"{what} {name!r} would land outside the delta directory")
    return path


def _database_dir(root: Path, where: str) -> Path:
    found = sorted(path.parent for path in root.rglob(CHROMA_DATABASE))
    if len(found) != 1:
        raise DeltaError(
            f"the delta at {where} holds {len(found)} {CHROMA_DATABASE} files; expected exactly one"
        )
    database = found[0] / CHROMA_DATABASE
    if database.is_symlink() or not database.is_file():
        raise DeltaError(f"the delta at {where}: {CHROMA_DATABASE} is not a regular file")
    with database.open("rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise DeltaError(f"the delta at {where}: {CHROMA_DATABASE} is not an SQLite database")
    return found[0]


# -- reading (in a child process) and merging ------------------------------------------------------------


@dataclass(frozen=True)
class DeltaRecords:
    """What a delta holds for one collection, as plain values read by a child process."""

    ids: tuple[str, ...]
    embeddings: tuple[tuple[float, ...], ...]
    documents: tuple[str | None, ...]
    metadatas: tuple[dict[str, Any] | None, ...]


def read_delta(delta_dir: Path, collection_name: str, *, limits: DeltaLimits | None = None) -> DeltaRecords:
    """Every record of the delta's ``collection_name``, read by Chroma in a child process forked for it: a
    delta that crashes Chroma, hangs or fails is a ``DeltaError`` here, and this process never opens it."""
    limits = limits or DeltaLimits.from_environ()
    try:
        found = read_in_forked_child(
            delta_dir,
            collection_name,
            timeout=limits.open_timeout,
            what=f"the delta's Chroma directory ({delta_dir.name})",
        )
    except ChildFailed as error:
        raise DeltaError(str(error)) from None
    if found.missing is not None:
        raise DeltaError(f"the delta has no {collection_name!r} collection (it has {found.missing})")
    return _records(found.records)


def _records(raw: object) -> DeltaRecords:
    """Check the shape of what the child read: it came from an untrusted file."""
    if not isinstance(raw, dict):
        raise DeltaError("the delta reader returned no records")
    ids, embeddings = raw.get("ids"), raw.get("embeddings")
    documents, metadatas = raw.get("documents"), raw.get("metadatas")
    if not all(isinstance(value, list) for value in (ids, embeddings, documents, metadatas)):
        raise DeltaError("the delta reader returned records of the wrong shape")
    assert isinstance(ids, list)  # narrowed for the type checker: checked just above
    assert isinstance(embeddings, list)
    assert isinstance(documents, list)
    assert isinstance(metadatas, list)
    if not len(ids) == len(embeddings) == len(documents) == len(metadatas):
        raise DeltaError("the delta's ids, embeddings, documents and metadatas differ in length")
    if not all(isinstance(value, str) for value in ids) or len(set(ids)) != len(ids):
        raise DeltaError("the delta's ids are not distinct strings")
    dimensions = {len(vector) for vector in embeddings if isinstance(vector, list)}
    if len(dimensions) > 1 or not all(
        isinstance(vector, list) and all(isinstance(x, float) and math.isfinite(x) for x in vector)
        for vector in embeddings
    ):
        raise DeltaError("the delta's embeddings are not vectors of one dimension with finite values")
    if not all(value is None or isinstance(value, str) for value in documents):
        raise DeltaError("the delta's documents are not strings")
    if not all(value is None or isinstance(value, dict) for value in metadatas):
        raise DeltaError("the delta's metadatas are not mappings")
    return DeltaRecords(
        ids=tuple(ids),
        embeddings=tuple(tuple(vector) for vector in embeddings),
        documents=tuple(documents),
        metadatas=tuple(metadatas),
    )


def merge_delta(
    delta_dir: Path, target: Collection, collection_name: str, *, limits: DeltaLimits | None = None
) -> list[str]:
    """Upsert every record of the delta's ``collection_name`` into ``target``; returns the merged ids."""
    records = read_delta(delta_dir, collection_name, limits=limits)
    ids = list(records.ids)
    for start in range(0, len(ids), 500):
        end = start + 500
        target.upsert(
            ids=ids[start:end],
            embeddings=[list(vector) for vector in records.embeddings[start:end]],  # type: ignore[arg-type]
            documents=list(records.documents[start:end]),  # type: ignore[arg-type]
            metadatas=list(records.metadatas[start:end]),  # type: ignore[arg-type]
        )
    landed = sum(len(target.get(ids=list(chunk), include=[])["ids"]) for chunk in batched(ids))
    if landed != len(ids):
        raise DeltaError(f"merged {len(ids)} records but only {landed} are in the collection")
    return ids
