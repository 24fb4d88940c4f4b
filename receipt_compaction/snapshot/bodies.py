"""File bodies as stored in S3: gzip-compressed, named by the sha256 of the raw file.

Compression happens on the way up and is undone on the way down while the raw bytes are hashed, so a
restored file is read once and checked before it is used.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = ["CHUNK", "compress_bytes", "compress_file", "decode_bytes", "write_decoded"]

CHUNK = 1024 * 1024
LEVEL = 1
"""sqlite pages shrink a lot even at the lowest level, float vectors barely shrink at any: measured on a
50,000-vector collection, level 1 and 3 store the same 15.3 MB of 45 MB; level 1 compresses faster. The level
does not name a body (the raw sha256 does), so bodies written at another level stay readable and reusable."""


def compress_file(source: Path, target: Path) -> int:
    """gzip ``source`` into ``target``; returns the compressed size."""
    with (
        source.open("rb") as raw,
        target.open("wb") as stored,
        gzip.GzipFile(filename="", mode="wb", fileobj=stored, compresslevel=LEVEL, mtime=0) as packed,
    ):
        shutil.copyfileobj(raw, packed, CHUNK)
    return target.stat().st_size


def write_decoded(chunks: Iterable[bytes], target: Path) -> str:
    """Decompress the stored chunks into ``target``; returns the sha256 of what was written."""
    decompressor = zlib.decompressobj(wbits=31)
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for chunk in chunks:
            data = decompressor.decompress(chunk)
            digest.update(data)
            out.write(data)
        tail = decompressor.flush()
        digest.update(tail)
        out.write(tail)
    if not decompressor.eof:
        raise ValueError("the stored body ends before its gzip stream does")
    return digest.hexdigest()


def compress_bytes(data: bytes) -> bytes:
    """One chunk, gzip-compressed the way ``compress_file`` does it."""
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)


def decode_bytes(stored: bytes) -> bytes:
    """Undo ``compress_bytes``; ValueError or zlib.error when ``stored`` is not one whole gzip stream."""
    decompressor = zlib.decompressobj(wbits=31)
    data = decompressor.decompress(stored) + decompressor.flush()
    if not decompressor.eof:
        raise ValueError("the stored chunk ends before its gzip stream does")
    if decompressor.unused_data:
        raise ValueError("the stored chunk has bytes after its gzip stream")
    return data
