"""Reconciling the embeddings of one receipt in one collection to its current DynamoDB state.

Each message names a scope (a receipt, a line or a word). For every embedding in scope: if its DynamoDB row
(or the receipt's Receipt item, which anchors all of them) is gone it is deleted; otherwise its metadata is
set to what ``desired_embeddings`` says, with ``collection.update`` (a key that should be absent is sent as
None, which Chroma deletes). What was embedded
(the document and its ``text`` field) belongs to the vector and changes only with it, through a delta:
Chroma re-embeds any document given to ``update``. Embeddings are never created here either. Applying the
same scopes again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from receipt_compaction.chroma_ids import CollectionName, line_embedding_id, word_embedding_id
from receipt_compaction.chroma_store import batched
from receipt_compaction.embedding.metadata import desired_embeddings

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from chromadb.api.models.Collection import Collection

    from receipt_compaction.embedding.metadata import ChromaMetadata
    from receipt_compaction.state import ReceiptKey, ReceiptState

__all__ = [
    "EMBEDDED_FIELDS",
    "ReceiptChanges",
    "Scope",
    "apply_changes",
    "metadata_patch",
    "plan_receipt_changes",
]

EMBEDDED_FIELDS = frozenset({"text"})


@dataclass(frozen=True)
class Scope:
    """What one message makes dirty: a whole receipt, one line, or one word."""

    receipt: ReceiptKey
    line_id: int | None = None
    word_id: int | None = None

    def embedding_id(self, collection: CollectionName) -> str | None:
        """The one embedding this scope names in ``collection``, or None when it spans several."""
        image_id, receipt_id = self.receipt.image_id, self.receipt.receipt_id
        if collection == "words" and self.line_id is not None and self.word_id is not None:
            return word_embedding_id(image_id, receipt_id, self.line_id, self.word_id)
        if collection == "lines" and self.line_id is not None and self.word_id is None:
            return line_embedding_id(image_id, receipt_id, self.line_id)
        return None

    def receipt_where(self) -> dict[str, Any]:
        """The Chroma filter for every embedding of this scope's receipt."""
        return {"$and": [{"image_id": self.receipt.image_id}, {"receipt_id": self.receipt.receipt_id}]}


@dataclass
class ReceiptChanges:
    """The updates and deletions that bring a collection in line with the state."""

    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Chroma id -> metadata patch."""
    deletes: set[str] = field(default_factory=set)

    def merge(self, other: ReceiptChanges) -> None:
        self.updates.update(other.updates)
        self.deletes |= other.deletes


def plan_receipt_changes(
    collection: Collection, name: CollectionName, state: ReceiptState, scopes: Iterable[Scope]
) -> ReceiptChanges:
    scopes = list(scopes)
    existing = _fetch_in_scope(collection, name, scopes)
    desired = desired_embeddings(state, name)
    receipt_gone = state.receipt is None  # the Receipt item anchors every embedding of the receipt
    changes = ReceiptChanges()
    for embedding_id, metadata in existing.items():
        wanted = None if receipt_gone else desired.get(embedding_id)
        if wanted is None:
            changes.deletes.add(embedding_id)
        elif patch := metadata_patch(metadata, wanted.metadata):
            changes.updates[embedding_id] = patch
    return changes


def apply_changes(collection: Collection, changes: ReceiptChanges) -> None:
    for doomed in batched(sorted(changes.deletes)):
        collection.delete(ids=list(doomed))
    for ids in batched(sorted(changes.updates)):
        collection.update(ids=list(ids), metadatas=[changes.updates[embedding_id] for embedding_id in ids])


def metadata_patch(current: Mapping[str, Any] | None, wanted: ChromaMetadata) -> dict[str, Any]:
    """The ``update`` payload turning ``current`` into ``wanted``: changed keys, and None for stale ones.

    Fields of ``EMBEDDED_FIELDS`` are left as they are: they describe what the vector was made from.
    """
    current = current or {}
    patch: dict[str, Any] = {
        key: value
        for key, value in wanted.items()
        if key not in EMBEDDED_FIELDS and current.get(key) != value
    }
    patch.update({key: None for key in current if key not in wanted and key not in EMBEDDED_FIELDS})
    return patch


def _fetch_in_scope(
    collection: Collection, name: CollectionName, scopes: list[Scope]
) -> dict[str, Mapping[str, Any] | None]:
    """Metadata of the embeddings the scopes name: by id when each names one, else all of the receipt's.

    Reconciling more than a scope asks for is still correct (everything converges to the same state);
    it only costs time, so the common case (labels: one word each) reads exactly its ids.
    """
    ids = [scope.embedding_id(name) for scope in scopes]
    if all(embedding_id is not None for embedding_id in ids):
        page = collection.get(
            ids=sorted({embedding_id for embedding_id in ids if embedding_id}), include=["metadatas"]
        )
    else:
        page = collection.get(where=scopes[0].receipt_where(), include=["metadatas"])
    none: list[Any] = [None] * len(page["ids"])
    metadatas: list[Mapping[str, Any] | None] = list(page["metadatas"] or none)
    return dict(zip(page["ids"], metadatas, strict=True))
