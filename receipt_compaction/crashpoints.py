"""Named crash points, so tests can stop a compaction exactly where a real process could die.

The one hook is ``crash_at(name)``: inside the ``with`` block, reaching that point raises ``SimulatedCrash``,
a ``BaseException`` so no ``except Exception`` on the way up can swallow it (a dead process cleans nothing
up either). Outside tests no point is armed and ``crash_point`` costs one set lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CRASH_POINTS", "SimulatedCrash", "crash_at", "crash_point"]

CRASH_POINTS = (
    "after_restore",
    "after_compaction",
    "after_bodies",
    "after_manifest",
    "before_pointer",
    "after_pointer",
)

_armed: set[str] = set()
_lock = threading.Lock()


class SimulatedCrash(BaseException):
    """The process "died" at a named point."""


def crash_point(name: str) -> None:
    if name in _armed:
        raise SimulatedCrash(name)


@contextmanager
def crash_at(name: str) -> Iterator[None]:
    if name not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {name!r}; known: {', '.join(CRASH_POINTS)}")
    with _lock:
        _armed.add(name)
    try:
        yield
    finally:
        with _lock:
            _armed.discard(name)
