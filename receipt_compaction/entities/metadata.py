"""ReceiptMetadata: the merchant facts copied into every line and word embedding of a receipt."""

from __future__ import annotations

from typing import ClassVar

from receipt_compaction.chroma_ids import CollectionName
from receipt_compaction.entities.base import Entity, EventName, OptionalText
from receipt_compaction.entities.receipt import RECEIPT_SEGMENT
from receipt_compaction.keys import LiteralSegment, SortKeyShape

__all__ = ["ReceiptMetadata"]


class ReceiptMetadata(Entity):
    """``RECEIPT#{r:05d}#METADATA``."""

    ENTITY_TYPE: ClassVar[str] = "RECEIPT_METADATA"
    SORT_KEY: ClassVar[SortKeyShape] = (RECEIPT_SEGMENT, LiteralSegment("METADATA"))
    CHROMA_FIELDS: ClassVar[tuple[str, ...]] = (
        "merchant_name",
        "canonical_merchant_name",
        "merchant_category",
        "address",
        "phone_number",
        "place_id",
    )
    COLLECTIONS: ClassVar[tuple[CollectionName, ...]] = ("lines", "words")
    DIRTY_ON: ClassVar[frozenset[EventName]] = frozenset({"INSERT", "MODIFY", "REMOVE"})

    merchant_name: OptionalText = None
    canonical_merchant_name: OptionalText = None
    merchant_category: OptionalText = None
    address: OptionalText = None
    phone_number: OptionalText = None
    place_id: OptionalText = None
