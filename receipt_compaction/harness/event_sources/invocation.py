"""What every local event source shares: the handler type, and the record of one invocation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["Handler", "Invocation"]

Handler: TypeAlias = Callable[[dict[str, Any], object], Mapping[str, Any]]
"""A Lambda handler: ``(event, context) -> response``."""


@dataclass(frozen=True)
class Invocation:
    """One handler call: which source, how many records, which item identifiers it reported failed."""

    source: str
    records: int
    failures: tuple[str, ...]
    error: str | None = None
