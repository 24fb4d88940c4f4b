"""Receipt, ReceiptLine and ReceiptWord: the OCR structure. Only their REMOVE matters to Chroma."""

from __future__ import annotations

from typing import ClassVar

from receipt_compaction.chroma_ids import CollectionName
from receipt_compaction.entities.base import Confidence, Entity, EventName, LineId, OptionalText, WordId
from receipt_compaction.keys import IdSegment, SortKeyShape

__all__ = ["RECEIPT_SEGMENT", "Receipt", "ReceiptLine", "ReceiptWord"]

RECEIPT_SEGMENT = IdSegment("RECEIPT", "receipt_id", minimum=1)
LINE_SEGMENT = IdSegment("LINE", "line_id")
WORD_SEGMENT = IdSegment("WORD", "word_id")


class Receipt(Entity):
    """``RECEIPT#{r:05d}``: one receipt cut from an image."""

    ENTITY_TYPE: ClassVar[str] = "RECEIPT"
    SORT_KEY: ClassVar[SortKeyShape] = (RECEIPT_SEGMENT,)
    COLLECTIONS: ClassVar[tuple[CollectionName, ...]] = ("lines", "words")
    DIRTY_ON: ClassVar[frozenset[EventName]] = frozenset({"REMOVE"})

    width: int | None = None
    height: int | None = None
    timestamp_added: OptionalText = None


class ReceiptLine(Entity):
    """``RECEIPT#{r:05d}#LINE#{l:05d}``: one OCR line; embedded into ``lines``."""

    ENTITY_TYPE: ClassVar[str] = "RECEIPT_LINE"
    SORT_KEY: ClassVar[SortKeyShape] = (RECEIPT_SEGMENT, LINE_SEGMENT)
    COLLECTIONS: ClassVar[tuple[CollectionName, ...]] = ("lines",)
    DIRTY_ON: ClassVar[frozenset[EventName]] = frozenset({"REMOVE"})

    line_id: LineId
    text: str
    confidence: Confidence | None = None


class ReceiptWord(Entity):
    """``RECEIPT#{r:05d}#LINE#{l:05d}#WORD#{w:05d}``: one OCR word; embedded into ``words``."""

    ENTITY_TYPE: ClassVar[str] = "RECEIPT_WORD"
    SORT_KEY: ClassVar[SortKeyShape] = (RECEIPT_SEGMENT, LINE_SEGMENT, WORD_SEGMENT)
    COLLECTIONS: ClassVar[tuple[CollectionName, ...]] = ("words",)
    DIRTY_ON: ClassVar[frozenset[EventName]] = frozenset({"REMOVE"})

    line_id: LineId
    word_id: WordId
    text: str
    confidence: Confidence | None = None
