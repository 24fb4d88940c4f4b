"""ReceiptWordLabel: one label on one word; all of a word's labels together set its label metadata."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal, TypeAlias

from pydantic import StringConstraints

from receipt_compaction.chroma_ids import CollectionName
from receipt_compaction.entities.base import Entity, EventName, LineId, OptionalText, WordId
from receipt_compaction.entities.receipt import LINE_SEGMENT, RECEIPT_SEGMENT, WORD_SEGMENT
from receipt_compaction.keys import NameSegment, SortKeyShape

__all__ = ["LABEL_PATTERN", "ReceiptWordLabel", "ValidationStatus"]

LABEL_PATTERN = r"[A-Z][A-Z0-9_]{0,63}"
"""An upper-case label name; it is part of the sort key, so no ``#`` and no lower case."""

ValidationStatus: TypeAlias = Literal["NONE", "PENDING", "VALID", "INVALID", "NEEDS_REVIEW"]


class ReceiptWordLabel(Entity):
    """``RECEIPT#{r:05d}#LINE#{l:05d}#WORD#{w:05d}#LABEL#{LABEL}``."""

    ENTITY_TYPE: ClassVar[str] = "RECEIPT_WORD_LABEL"
    SORT_KEY: ClassVar[SortKeyShape] = (
        RECEIPT_SEGMENT,
        LINE_SEGMENT,
        WORD_SEGMENT,
        NameSegment("LABEL", "label", re.compile(LABEL_PATTERN)),
    )
    CHROMA_FIELDS: ClassVar[tuple[str, ...]] = ("label", "validation_status")
    """The only fields a word's label metadata is computed from (``label_fields``): ``reasoning`` and the
    provenance fields never reach Chroma, so they neither make a MODIFY news nor travel in ``changes`` (a
    60 KB reasoning would otherwise double into every message)."""
    COLLECTIONS: ClassVar[tuple[CollectionName, ...]] = ("words",)
    DIRTY_ON: ClassVar[frozenset[EventName]] = frozenset({"INSERT", "MODIFY", "REMOVE"})

    line_id: LineId
    word_id: WordId
    label: Annotated[str, StringConstraints(pattern=f"^{LABEL_PATTERN}$")]
    validation_status: ValidationStatus = "NONE"
    reasoning: OptionalText = None
    label_proposed_by: OptionalText = None
    label_consolidated_from: OptionalText = None
    timestamp_added: OptionalText = None
