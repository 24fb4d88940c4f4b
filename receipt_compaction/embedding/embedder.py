"""Embedders: the one-method interface, and a deterministic one for tests and local runs."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

__all__ = ["DEFAULT_DIMENSION", "Embedder", "HashEmbedder"]

DEFAULT_DIMENSION = 16


class Embedder(Protocol):
    """Turns (id, text) pairs into one vector each; plug a real model in by implementing this."""

    def embed(self, ids: Sequence[str], texts: Sequence[str]) -> NDArray[np.float32]: ...


class HashEmbedder:
    """Unit vectors from a numpy generator seeded with sha256(id, text): same input, same vector."""

    def __init__(self, dimension: int = DEFAULT_DIMENSION) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be at least 1, got {dimension}")
        self.dimension = dimension

    def embed(self, ids: Sequence[str], texts: Sequence[str]) -> NDArray[np.float32]:
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        vectors = np.empty((len(ids), self.dimension), dtype=np.float32)
        for row, (embedding_id, text) in enumerate(zip(ids, texts, strict=True)):
            seed = hashlib.sha256(f"{embedding_id}\0{text}".encode()).digest()
            vector = np.random.default_rng(int.from_bytes(seed[:8], "big")).standard_normal(self.dimension)
            vectors[row] = vector / np.linalg.norm(vector)
        return vectors
