"""Handler settings read from the environment (DESIGN §4); a missing variable is one clear error."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName

__all__ = [
    "QUEUE_URL_VARIABLES",
    "STREAM_FAILURE_QUEUE_VARIABLE",
    "CompactionSettings",
    "SettingsError",
    "StreamProcessorSettings",
    "aws_region",
    "default_work_root",
    "require_env",
]

QUEUE_URL_VARIABLES: Mapping[CollectionName, str] = {"lines": "LINES_QUEUE_URL", "words": "WORDS_QUEUE_URL"}
STREAM_FAILURE_QUEUE_VARIABLE = "STREAM_FAILURE_QUEUE_URL"
"""Optional: the queue the stream processor sends records it can never publish to (the same queue as the
event source mapping's on-failure destination is a good choice)."""


class SettingsError(RuntimeError):
    """A required setting is missing or invalid; the message names the variable to set."""


def require_env(name: str, purpose: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set: it must hold {purpose}")
    return value


def aws_region(environ: Mapping[str, str]) -> str:
    """``AWS_REGION`` (set by Lambda itself), else boto3's ``AWS_DEFAULT_REGION``."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise SettingsError("environment variable AWS_REGION is not set: it must hold the AWS region name")
    return region


@dataclass(frozen=True)
class StreamProcessorSettings:
    region: str
    queue_urls: Mapping[CollectionName, str]
    failure_queue_url: str | None = None
    """``STREAM_FAILURE_QUEUE_URL`` (optional): where records that can never be published go at once."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StreamProcessorSettings:
        env = os.environ if environ is None else environ
        urls = {
            collection: require_env(
                QUEUE_URL_VARIABLES[collection],
                f"the URL of the SQS queue of the {collection!r} collection",
                env,
            )
            for collection in COLLECTIONS
        }
        failure_queue = env.get(STREAM_FAILURE_QUEUE_VARIABLE, "").strip() or None
        return cls(region=aws_region(env), queue_urls=urls, failure_queue_url=failure_queue)


def default_work_root() -> Path:
    """Where working copies go unless ``COMPACTION_WORK_DIR`` says otherwise: local disk (Lambda's ``/tmp``),
    never EFS, because Chroma is not safe on NFS."""
    return Path(tempfile.gettempdir()) / "receipt-compaction-work"


@dataclass(frozen=True)
class CompactionSettings:
    table_name: str
    bucket: str
    efs_root: Path
    region: str
    lease_seconds: float = 120.0
    keep_versions: int = 4
    lease_wait_seconds: float = 2.0
    """How long a cycle waits for a busy lease when there is no Lambda context to ask for the remaining time
    (local runs, the harness): kept short, so a deliberately held lease fails its messages quickly."""
    lease_wait_margin_seconds: float = 60.0
    """Under Lambda, the wait ends this long before the function's timeout: time to compact and publish."""
    work_root: Path = field(default_factory=default_work_root)
    """Where private working copies are made (and stale ones of dead processes removed)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CompactionSettings:
        env = os.environ if environ is None else environ
        efs_root = env.get("EFS_ROOT") or str(Path(tempfile.gettempdir()) / "receipt-compaction-efs")
        return cls(
            table_name=require_env("DYNAMODB_TABLE_NAME", "the name of the receipts table", env),
            bucket=require_env("CHROMADB_BUCKET", "the bucket holding snapshots and deltas", env),
            efs_root=Path(efs_root),
            region=aws_region(env),
            lease_seconds=_positive(env, "COMPACTION_LEASE_SECONDS", 120.0),
            keep_versions=int(_positive(env, "COMPACTION_KEEP_VERSIONS", 4)),
            lease_wait_seconds=_not_negative(env, "COMPACTION_LEASE_WAIT_SECONDS", 2.0),
            lease_wait_margin_seconds=_not_negative(env, "COMPACTION_LEASE_WAIT_MARGIN_SECONDS", 60.0),
            work_root=Path(env.get("COMPACTION_WORK_DIR") or default_work_root()),
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    return _seconds(env, name, default, zero_allowed=False)


def _not_negative(env: Mapping[str, str], name: str, default: float) -> float:
    return _seconds(env, name, default, zero_allowed=True)


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero_allowed: bool) -> float:
    """A finite number from ``env[name]`` (``default`` when unset), above 0 or, ``zero_allowed``, 0 too."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if value == float("inf") or not (value >= 0 if zero_allowed else value > 0):
        which = "a number, 0 or more" if zero_allowed else "a positive number"
        raise SettingsError(f"environment variable {name} is {raw!r}: it must be {which}")
    return value
