"""Names and handles of the per-test resources the fixtures in ``tests/conftest.py`` create."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

__all__ = ["Table", "unique_name"]


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Table:
    name: str
    stream_arn: str
