"""A stored version's files as pieces: whole small files, or fixed-size chunks of large ones, each with the
offset it sits at in its file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Iterator

    from receipt_compaction.snapshot.manifest import ChunkRef, ManifestFile

__all__ = ["IN_MEMORY_BYTES", "MAX_CHUNK_BYTES", "Piece", "chunk_name", "pieces", "read_at"]

MAX_CHUNK_BYTES = 16 * 1024 * 1024
IN_MEMORY_BYTES = MAX_CHUNK_BYTES
"""A stored piece up to this size is handled in memory; a larger one (a whole file, ``chunk_bytes=None``)
goes through a temporary file."""


@dataclass(frozen=True)
class Piece:
    """One stored piece of one file: where it sits in the file, and what it must hash to."""

    entry: ManifestFile
    index: int
    offset: int
    chunk: ChunkRef

    @property
    def last(self) -> bool:
        return self.index == len(self.entry.pieces()) - 1


def pieces(files: tuple[ManifestFile, ...]) -> Iterator[Piece]:
    for entry in files:
        offset = 0
        for index, chunk in enumerate(entry.pieces()):
            yield Piece(entry, index, offset, chunk)
            offset += chunk.size


def read_at(handle: BinaryIO, offset: int, size: int) -> bytes:
    data = os.pread(handle.fileno(), size, offset)
    if len(data) != size:
        raise OSError(f"{handle.name}: {size} bytes expected at offset {offset}, {len(data)} found")
    return data


def chunk_name(piece: Piece) -> str:
    count = len(piece.entry.pieces())
    return f"chunk {piece.index + 1} of {count} at offset {piece.offset}, " if count > 1 else ""
