"""Embeddings: the metadata builder (DESIGN §3), embedders, and writing receipts into Chroma."""

from __future__ import annotations

from receipt_compaction.embedding.embedder import DEFAULT_DIMENSION, Embedder, HashEmbedder
from receipt_compaction.embedding.metadata import (
    ChromaMetadata,
    DesiredEmbedding,
    desired_embeddings,
    label_fields,
    line_metadata,
    word_metadata,
)
from receipt_compaction.embedding.produce import DeltaLayout, produce_delta, upload_delta
from receipt_compaction.embedding.writer import embed_receipts, upsert_embeddings

__all__ = [
    "DEFAULT_DIMENSION",
    "ChromaMetadata",
    "DeltaLayout",
    "DesiredEmbedding",
    "Embedder",
    "HashEmbedder",
    "desired_embeddings",
    "embed_receipts",
    "label_fields",
    "line_metadata",
    "produce_delta",
    "upload_delta",
    "upsert_embeddings",
    "word_metadata",
]
