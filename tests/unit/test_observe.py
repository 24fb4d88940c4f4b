"""The observer bus: silent without listeners, every emit delivered while subscribed, thread-safe, and an
observer that raises never reaches the code that emitted."""

from __future__ import annotations

import threading
from typing import Any

from receipt_compaction import observe


def test_emit_without_observers_does_nothing_and_says_nobody_listens() -> None:
    assert not observe.observing()
    observe.emit("anything", value=object())  # no error, nothing to receive it


def test_a_subscribed_observer_receives_every_emit_until_the_block_ends() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    with observe.subscribed(lambda kind, fields: seen.append((kind, fields))):
        assert observe.observing()
        observe.emit("lease.acquired", collection="words", token=3)
    observe.emit("lease.acquired", collection="lines", token=4)
    assert seen == [("lease.acquired", {"collection": "words", "token": 3})]
    assert not observe.observing()


def test_an_observer_that_raises_does_not_stop_the_others_nor_the_caller() -> None:
    seen: list[str] = []

    def broken(kind: str, fields: dict[str, Any]) -> None:
        raise RuntimeError("observer bug")

    with observe.subscribed(broken), observe.subscribed(lambda kind, fields: seen.append(kind)):
        observe.emit("fault", fault="crash_point")
    assert seen == ["fault"]


def test_emits_from_many_threads_all_arrive() -> None:
    lock = threading.Lock()
    counted: list[int] = []

    def count(kind: str, fields: dict[str, Any]) -> None:
        with lock:
            counted.append(fields["n"])

    def emit_many() -> None:
        for n in range(500):
            observe.emit("tick", n=n)

    with observe.subscribed(count):
        threads = [threading.Thread(target=emit_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(counted) == 8 * 500
    assert sorted(set(counted)) == list(range(500))
