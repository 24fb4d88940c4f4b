"""Opening Chroma persistent directories safely, and reading or writing them in batches.

A client is always closed (Chroma keeps SQLite handles per path otherwise), telemetry is off, every
collection uses cosine distance and has no embedding function of Chroma's own.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import chromadb
from chromadb.config import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = [
    "DEFAULT_BATCH",
    "ChildFailed",
    "batched",
    "get_all",
    "open_chroma",
    "open_collection",
    "run_in_child",
]

DEFAULT_BATCH = 1000
T = TypeVar("T")


@contextmanager
def open_chroma(path: str | Path) -> Iterator[ClientAPI]:
    """A PersistentClient on ``path``, closed on exit even when the block fails."""
    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    try:
        yield client
    finally:
        client.close()  # type: ignore[attr-defined]  # the concrete Client has it; ClientAPI omits it


def open_collection(client: ClientAPI, name: str) -> Collection:
    """The collection, created if needed. No embedding function: vectors always come from our embedder,
    and Chroma's default one would try to download a model."""
    return client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"}, embedding_function=None)


def batched(items: Sequence[T], size: int = DEFAULT_BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def get_all(
    collection: Collection, *, include: list[Any], batch: int = DEFAULT_BATCH
) -> dict[str, list[Any]]:
    """Every record of the collection, fetched page by page: ``{"ids": [...], <included field>: [...]}``."""
    result: dict[str, list[Any]] = {"ids": [], **{field: [] for field in include}}
    offset = 0
    while True:
        page = collection.get(include=include, limit=batch, offset=offset)
        result["ids"] += page["ids"]
        for field in include:
            values = page[field]  # type: ignore[literal-required]
            result[field] += list(values) if values is not None else []
        if len(page["ids"]) < batch:
            return result
        offset += batch


class ChildFailed(RuntimeError):
    """Code run on untrusted Chroma files in a child process crashed, failed or ran out of time."""


def run_in_child(script: str, *arguments: str, timeout: float, what: str) -> str:
    """Run ``script`` with ``python -c`` in a fresh interpreter and return its stdout.

    Chroma's HNSW reader is C++ that trusts its files: a damaged one can kill the process reading it with a
    segfault. So any code that opens files we have not verified runs here; its crash, its error or its
    timeout is a ``ChildFailed`` naming ``what`` was being opened, never the death of the caller.
    """
    try:
        result = subprocess.run(
            [sys.executable, "-c", script, *arguments],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ChildFailed(f"opening {what} did not finish within {timeout:.0f} s") from None
    if result.returncode < 0:
        name = _signal_name(-result.returncode)
        raise ChildFailed(f"opening {what} crashed the process reading it ({name})")
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ChildFailed(f"opening {what} failed (exit {result.returncode}): {last}")
    return result.stdout


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
