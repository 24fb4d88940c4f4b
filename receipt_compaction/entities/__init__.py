"""The table's entities (DESIGN §3): frozen pydantic models with structural key parsing."""

from __future__ import annotations

from receipt_compaction.entities.base import Entity, EntityError, EventName, Item, MessageFields
from receipt_compaction.entities.labels import ReceiptWordLabel, ValidationStatus
from receipt_compaction.entities.metadata import ReceiptMetadata
from receipt_compaction.entities.receipt import Receipt, ReceiptLine, ReceiptWord
from receipt_compaction.entities.registry import (
    ENTITY_CLASSES,
    entity_class_for_key,
    entity_from_item,
    unrecognised_key,
)
from receipt_compaction.entities.runs import CompactionRun, RunState, delta_prefix

__all__ = [
    "ENTITY_CLASSES",
    "CompactionRun",
    "Entity",
    "EntityError",
    "EventName",
    "Item",
    "MessageFields",
    "Receipt",
    "ReceiptLine",
    "ReceiptMetadata",
    "ReceiptWord",
    "ReceiptWordLabel",
    "RunState",
    "ValidationStatus",
    "delta_prefix",
    "entity_class_for_key",
    "entity_from_item",
    "unrecognised_key",
]
