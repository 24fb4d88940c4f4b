"""Where snapshots live in the bucket (DESIGN §4, contract) and how versions are named."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

__all__ = [
    "VERSION_ID_PATTERN",
    "bodies_prefix",
    "body_key",
    "manifest_key",
    "new_version_id",
    "pointer_key",
    "version_prefix",
    "versions_prefix",
]

VERSION_ID_PATTERN = re.compile(r"\d{8}_\d{6}_\d{6}_[0-9a-f]{8}")
_FORMAT = "%Y%m%d_%H%M%S_%f"


def pointer_key(collection: str) -> str:
    return f"{collection}/snapshot/latest-pointer.txt"


def versions_prefix(collection: str) -> str:
    return f"{collection}/snapshot/timestamped/"


def version_prefix(collection: str, version_id: str) -> str:
    return f"{versions_prefix(collection)}{version_id}/"


def manifest_key(collection: str, version_id: str) -> str:
    return f"{version_prefix(collection, version_id)}manifest.json"


def bodies_prefix(collection: str) -> str:
    return f"{collection}/snapshot/bodies/"


def body_key(collection: str, sha256: str) -> str:
    """File bodies are content-addressed (by the raw file's sha256) and stored gzip-compressed: a version
    uploads only bodies no earlier version has."""
    return f"{bodies_prefix(collection)}{sha256}.gz"


def new_version_id(*, after: str | None = None, now: datetime | None = None) -> str:
    """``YYYYMMDD_HHMMSS_ffffff_{8 hex}`` (UTC), strictly after ``after`` even if the clock went back."""
    moment = now or datetime.now(UTC)
    if after is not None:
        previous = datetime.strptime(after[:22], _FORMAT).replace(tzinfo=UTC)
        moment = max(moment, previous + timedelta(microseconds=1))
    return f"{moment.strftime(_FORMAT)}_{secrets.token_hex(4)}"
