"""The Chroma collection names and embedding ids (DESIGN §3, contract)."""

from __future__ import annotations

from typing import Literal, TypeAlias

from receipt_compaction.keys import format_id, render_pk

__all__ = [
    "COLLECTIONS",
    "CollectionName",
    "line_embedding_id",
    "receipt_of_embedding_id",
    "word_embedding_id",
]

CollectionName: TypeAlias = Literal["lines", "words"]
COLLECTIONS: tuple[CollectionName, ...] = ("lines", "words")


def line_embedding_id(image_id: str, receipt_id: int, line_id: int) -> str:
    return f"{render_pk(image_id)}#RECEIPT#{format_id(receipt_id)}#LINE#{format_id(line_id)}"


def word_embedding_id(image_id: str, receipt_id: int, line_id: int, word_id: int) -> str:
    return f"{line_embedding_id(image_id, receipt_id, line_id)}#WORD#{format_id(word_id)}"


def receipt_of_embedding_id(embedding_id: str) -> tuple[str, int] | None:
    """``(image_id, receipt_id)`` of a line or word embedding id, or None if it is neither."""
    parts = embedding_id.split("#")
    if len(parts) not in (6, 8) or parts[0] != "IMAGE" or parts[2] != "RECEIPT" or not parts[3].isdigit():
        return None
    return parts[1], int(parts[3])
