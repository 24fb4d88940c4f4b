"""Fetching a delta Chroma directory from S3 and merging it into the working collection.

A delta lives under ``{collection}/delta/{run_id}/`` either as ``delta.tar.gz`` or as a plain directory of
files. Nothing from S3 may land outside the directory it is fetched into: a tar member or key that would
(absolute, ``..``, a link, a device) fails the delta before anything is written.
"""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from receipt_compaction.chroma_store import batched, get_all, open_chroma
from receipt_compaction.entities.runs import DELTA_TARBALL as TARBALL_NAME

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from mypy_boto3_s3 import S3Client

__all__ = ["DeltaError", "download_delta", "merge_delta", "safe_extract"]

CHROMA_DATABASE = "chroma.sqlite3"


class DeltaError(RuntimeError):
    """A delta that is missing, unsafe or broken; the run it belongs to stays PENDING."""


def download_delta(s3: S3Client, bucket: str, prefix: str, destination: Path) -> Path:
    """Fetch the delta under ``prefix`` into ``destination``; returns the directory holding the database."""
    keys = _list_keys(s3, bucket, prefix)
    if not keys:
        raise DeltaError(f"no delta at s3://{bucket}/{prefix}: the prefix holds no objects")
    destination.mkdir(parents=True, exist_ok=True)
    if prefix + TARBALL_NAME in keys:
        archive = destination.parent / f"{destination.name}.tar.gz"
        s3.download_file(bucket, prefix + TARBALL_NAME, str(archive))
        safe_extract(archive, destination)
        archive.unlink()
    else:
        for key in keys:
            target = destination / _safe_relative(key[len(prefix) :], f"key s3://{bucket}/{key}")
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
    return _database_dir(destination, f"s3://{bucket}/{prefix}")


def safe_extract(archive: Path, destination: Path) -> None:
    """Extract a .tar.gz whose members are all plain files or directories inside ``destination``."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                if not (member.isfile() or member.isdir()):
                    raise DeltaError(
                        f"{TARBALL_NAME} member {member.name!r} is not a plain file or directory"
                    )
                _safe_relative(member.name, f"{TARBALL_NAME} member")
            tar.extractall(destination, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DeltaError(f"{TARBALL_NAME} cannot be read: {error}") from None


def merge_delta(delta_dir: Path, target: Collection, collection_name: str) -> list[str]:
    """Upsert every record of the delta's ``collection_name`` into ``target``; returns the merged ids."""
    with open_chroma(delta_dir) as client:
        names = [collection.name for collection in client.list_collections()]
        if collection_name not in names:
            raise DeltaError(f"the delta has no {collection_name!r} collection (it has {names})")
        records = get_all(
            client.get_collection(collection_name), include=["embeddings", "documents", "metadatas"]
        )
    ids: list[str] = records["ids"]
    for start in range(0, len(ids), 500):
        end = start + 500
        target.upsert(
            ids=ids[start:end],
            embeddings=records["embeddings"][start:end],
            documents=records["documents"][start:end],
            metadatas=records["metadatas"][start:end],
        )
    landed = sum(len(target.get(ids=list(chunk), include=[])["ids"]) for chunk in batched(ids))
    if landed != len(ids):
        raise DeltaError(f"merged {len(ids)} records but only {landed} are in the collection")
    return ids


def _list_keys(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [
        item["Key"] for page in pages for item in page.get("Contents", []) if not item["Key"].endswith("/")
    ]


def _safe_relative(name: str, what: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise DeltaError(f"{what} {name!r} would land outside the delta directory")
    return path


def _database_dir(root: Path, where: str) -> Path:
    if (root / CHROMA_DATABASE).is_file():
        return root
    found = sorted(path.parent for path in root.rglob(CHROMA_DATABASE))
    if len(found) != 1:
        raise DeltaError(
            f"the delta at {where} holds {len(found)} {CHROMA_DATABASE} files; expected exactly one"
        )
    return found[0]
