"""Writing receipts' lines and words into Chroma (seeding and delta production)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName
from receipt_compaction.chroma_store import batched, open_chroma, open_collection
from receipt_compaction.embedding.metadata import DesiredEmbedding, desired_embeddings

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from chromadb.api.models.Collection import Collection

    from receipt_compaction.embedding.embedder import Embedder
    from receipt_compaction.state import ReceiptState

__all__ = ["embed_receipts", "upsert_embeddings"]


def upsert_embeddings(
    collection: Collection, embeddings: Sequence[DesiredEmbedding], embedder: Embedder
) -> int:
    """Embed and upsert; returns how many were written."""
    for chunk in batched(embeddings):
        ids = [embedding.id for embedding in chunk]
        documents = [embedding.document for embedding in chunk]
        collection.upsert(
            ids=ids,
            embeddings=embedder.embed(ids, documents),
            documents=documents,
            metadatas=[embedding.metadata for embedding in chunk],  # type: ignore[misc]
        )
    return len(embeddings)


def embed_receipts(
    path: str | Path,
    states: Iterable[ReceiptState],
    *,
    embedder: Embedder,
    collections: Sequence[CollectionName] = COLLECTIONS,
) -> dict[CollectionName, int]:
    """Write every line and word of ``states`` into the Chroma directory at ``path``; counts by collection."""
    states = list(states)
    counts: dict[CollectionName, int] = {}
    with open_chroma(path) as client:
        for name in collections:
            embeddings = [
                embedding for state in states for embedding in desired_embeddings(state, name).values()
            ]
            counts[name] = upsert_embeddings(open_collection(client, name), embeddings, embedder)
    return counts
