"""The one builder of Chroma documents and metadata from DynamoDB state (DESIGN §3).

Seeding, delta production and compaction all call ``desired_embeddings``, so they cannot drift. No chromadb
here: the result is plain ids, documents and metadata dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from receipt_compaction.chroma_ids import CollectionName, line_embedding_id, word_embedding_id
from receipt_compaction.entities import ReceiptMetadata

if TYPE_CHECKING:
    from collections.abc import Iterable

    from receipt_compaction.entities import ReceiptLine, ReceiptWord, ReceiptWordLabel
    from receipt_compaction.state import ReceiptState

__all__ = [
    "MERCHANT_FIELDS",
    "ChromaMetadata",
    "DesiredEmbedding",
    "desired_embeddings",
    "label_fields",
    "line_metadata",
    "word_metadata",
]

ChromaValue: TypeAlias = str | int | float | bool | list[str]
ChromaMetadata: TypeAlias = dict[str, ChromaValue]

MERCHANT_FIELDS = ReceiptMetadata.CHROMA_FIELDS
"""The ReceiptMetadata fields every line and word embedding of the receipt carries."""


@dataclass(frozen=True)
class DesiredEmbedding:
    """What one embedding's document and metadata must be, given the current state."""

    id: str
    document: str
    metadata: ChromaMetadata


def merchant_fields(metadata: ReceiptMetadata | None) -> ChromaMetadata:
    """The receipt's merchant facts, verbatim; unset or empty ones are absent."""
    if metadata is None:
        return {}
    return {name: value for name in MERCHANT_FIELDS if (value := getattr(metadata, name))}


def label_fields(labels: Iterable[ReceiptWordLabel]) -> ChromaMetadata:
    """``label_status`` from all of a word's labels; ``valid_labels``/``invalid_labels`` when non-empty."""
    labels = list(labels)
    valid = sorted({label.label for label in labels if label.validation_status == "VALID"})
    invalid = sorted({label.label for label in labels if label.validation_status == "INVALID"} - set(valid))
    statuses = {label.validation_status for label in labels}
    if valid:
        status = "validated"
    elif "PENDING" in statuses:
        status = "auto_suggested"
    elif invalid:
        status = "invalidated"
    else:
        status = "unvalidated"
    fields: ChromaMetadata = {"label_status": status}
    if valid:
        fields["valid_labels"] = valid
    if invalid:
        fields["invalid_labels"] = invalid
    return fields


def line_metadata(state: ReceiptState, line: ReceiptLine) -> ChromaMetadata:
    return {
        "image_id": line.image_id,
        "receipt_id": line.receipt_id,
        "line_id": line.line_id,
        "text": line.text,
        **merchant_fields(state.metadata),
    }


def word_metadata(state: ReceiptState, word: ReceiptWord) -> ChromaMetadata:
    return {
        "image_id": word.image_id,
        "receipt_id": word.receipt_id,
        "line_id": word.line_id,
        "word_id": word.word_id,
        "text": word.text,
        **merchant_fields(state.metadata),
        **label_fields(state.labels_of(word.line_id, word.word_id)),
    }


def desired_embeddings(state: ReceiptState, collection: CollectionName) -> dict[str, DesiredEmbedding]:
    """Every embedding the receipt should have in ``collection``, by Chroma id, in reading order."""
    if collection == "lines":
        embeddings = [_line_embedding(state, line) for line in state.lines.values()]
    else:
        embeddings = [_word_embedding(state, word) for word in state.words.values()]
    return {embedding.id: embedding for embedding in embeddings}


def _line_embedding(state: ReceiptState, line: ReceiptLine) -> DesiredEmbedding:
    return DesiredEmbedding(
        line_embedding_id(line.image_id, line.receipt_id, line.line_id), line.text, line_metadata(state, line)
    )


def _word_embedding(state: ReceiptState, word: ReceiptWord) -> DesiredEmbedding:
    return DesiredEmbedding(
        word_embedding_id(word.image_id, word.receipt_id, word.line_id, word.word_id),
        word.text,
        word_metadata(state, word),
    )
