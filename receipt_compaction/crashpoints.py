"""Named points in a compaction cycle where tests can make a process die, or make something happen.

The one hook is ``at_point(name, action)``: inside the ``with`` block, reaching that point calls ``action``.
``crash_at(name)`` is the common case, an action that raises ``SimulatedCrash``: a ``BaseException``, so no
``except Exception`` on the way up can swallow it (a dead process cleans nothing up either). Other actions
force interleavings, such as another compactor publishing just before the pointer moves. Outside tests no
point is armed and ``crash_point`` costs one dict lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from receipt_compaction.observe import emit

__all__ = ["CRASH_POINTS", "SimulatedCrash", "at_point", "crash_at", "crash_point"]

CRASH_POINTS = (
    "after_restore",
    "after_compaction",
    "after_bodies",
    "after_manifest",
    "before_pointer",
    "after_pointer",
)

_actions: dict[str, Callable[[], None]] = {}
_lock = threading.Lock()


class SimulatedCrash(BaseException):
    """The process "died" at a named point."""


def crash_point(name: str) -> None:
    action = _actions.get(name)
    if action is not None:
        emit("fault", fault="crash_point", point=name, detail=f"{name} reached: its armed action runs")
        action()


@contextmanager
def at_point(name: str, action: Callable[[], None]) -> Iterator[None]:
    """Run ``action`` whenever ``name`` is reached inside the block (each point holds one action)."""
    if name not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {name!r}; known: {', '.join(CRASH_POINTS)}")
    with _lock:
        if name in _actions:
            raise RuntimeError(f"crash point {name!r} is already armed")
        _actions[name] = action
    try:
        yield
    finally:
        with _lock:
            _actions.pop(name, None)


@contextmanager
def crash_at(name: str) -> Iterator[None]:
    """Make the process "die" (raise SimulatedCrash) when it reaches ``name`` inside the block."""

    def crash() -> None:
        raise SimulatedCrash(name)

    with at_point(name, crash):
        yield
