"""A tiny observer bus: library code says what it decided, a test harness may listen.

Library code calls ``emit(kind, **fields)`` at the few points worth seeing in a timeline (the stream stage's
decision per record, lease acquisitions and losses, published versions, faults that fired). Nothing listens
in production: ``emit`` then returns after one truth test, and the fields it was given are objects the caller
already held (no formatting happens here). The harness's trace recorder subscribes for the length of a drain
(``receipt_compaction.harness.trace``), so the library never imports the harness, nor pytest.

Thread-safe: subscribing swaps an immutable tuple under a lock, and ``emit`` reads it once; a callback runs
on the emitting thread (a lease's heartbeat thread, an upload pool's worker) and must be thread-safe itself.
A callback that raises is logged and dropped from that one call: observing never breaks the pipeline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

__all__ = ["Observer", "emit", "observing", "subscribe", "subscribed", "unsubscribe"]

logger = logging.getLogger(__name__)

Observer: TypeAlias = Callable[[str, dict[str, Any]], None]
"""``observer(kind, fields)``: called for every ``emit`` while subscribed."""

_observers: tuple[Observer, ...] = ()
_lock = threading.Lock()


def emit(kind: str, /, **fields: Any) -> None:
    """Tell every subscribed observer that ``kind`` happened, with ``fields``; a no-op when none listens."""
    observers = _observers
    if not observers:
        return
    for observer in observers:
        try:
            observer(kind, fields)
        except Exception:  # an observer's bug must not change what the pipeline does
            logger.warning("observer %r failed on %s", observer, kind, exc_info=True)


def observing() -> bool:
    """Whether anything listens (to skip work that only an observer would use)."""
    return bool(_observers)


def subscribe(observer: Observer) -> None:
    global _observers  # noqa: PLW0603 - the one registry, swapped whole under the lock
    with _lock:
        _observers = (*_observers, observer)


def unsubscribe(observer: Observer) -> None:
    global _observers  # noqa: PLW0603
    with _lock:
        _observers = tuple(o for o in _observers if o is not observer)


@contextmanager
def subscribed(observer: Observer) -> Iterator[Observer]:
    """``observer`` receives every ``emit`` inside the block."""
    subscribe(observer)
    try:
        yield observer
    finally:
        unsubscribe(observer)
