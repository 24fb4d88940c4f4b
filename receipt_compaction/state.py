"""The current DynamoDB state of one receipt, read with one consistent Query.

Messages only say what is dirty; compaction and seeding both build embeddings from this state, so a
duplicate, replayed or reordered message converges to the same result.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from receipt_compaction.entities import (
    CompactionRun,
    Receipt,
    ReceiptLine,
    ReceiptMetadata,
    ReceiptWord,
    ReceiptWordLabel,
    entity_from_item,
)
from receipt_compaction.keys import format_id, render_pk

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mypy_boto3_dynamodb import DynamoDBClient

    from receipt_compaction.entities import Entity

__all__ = ["ReceiptKey", "ReceiptState", "load_receipt_state"]

WordKey = tuple[int, int]


@dataclass(frozen=True, order=True)
class ReceiptKey:
    image_id: str
    receipt_id: int


@dataclass(frozen=True)
class ReceiptState:
    """Every item of one receipt that Chroma cares about."""

    key: ReceiptKey
    receipt: Receipt | None = None
    metadata: ReceiptMetadata | None = None
    lines: dict[int, ReceiptLine] = field(default_factory=dict)
    words: dict[WordKey, ReceiptWord] = field(default_factory=dict)
    labels: dict[WordKey, tuple[ReceiptWordLabel, ...]] = field(default_factory=dict)
    runs: dict[str, CompactionRun] = field(default_factory=dict)

    @classmethod
    def from_entities(cls, key: ReceiptKey, entities: Iterable[Entity]) -> ReceiptState:
        """Collect the entities of ``key`` (others are ignored), in any order."""
        receipt = metadata = None
        lines: dict[int, ReceiptLine] = {}
        words: dict[WordKey, ReceiptWord] = {}
        labels: defaultdict[WordKey, list[ReceiptWordLabel]] = defaultdict(list)
        runs: dict[str, CompactionRun] = {}
        for entity in entities:
            if (entity.image_id, entity.receipt_id) != (key.image_id, key.receipt_id):
                continue
            if isinstance(entity, Receipt):
                receipt = entity
            elif isinstance(entity, ReceiptMetadata):
                metadata = entity
            elif isinstance(entity, ReceiptLine):
                lines[entity.line_id] = entity
            elif isinstance(entity, ReceiptWord):
                words[(entity.line_id, entity.word_id)] = entity
            elif isinstance(entity, ReceiptWordLabel):
                labels[(entity.line_id, entity.word_id)].append(entity)
            elif isinstance(entity, CompactionRun):
                runs[entity.run_id] = entity
        return cls(
            key=key,
            receipt=receipt,
            metadata=metadata,
            lines=dict(sorted(lines.items())),
            words=dict(sorted(words.items())),
            labels={
                word: tuple(sorted(found, key=lambda label: label.label)) for word, found in labels.items()
            },
            runs=runs,
        )

    def labels_of(self, line_id: int, word_id: int) -> tuple[ReceiptWordLabel, ...]:
        return self.labels.get((line_id, word_id), ())


def load_receipt_state(dynamodb: DynamoDBClient, table_name: str, key: ReceiptKey) -> ReceiptState:
    """Query the receipt's partition range with a consistent read; a malformed item raises EntityError."""
    paginator = dynamodb.get_paginator("query")
    pages = paginator.paginate(
        TableName=table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={
            ":pk": {"S": render_pk(key.image_id)},
            ":sk": {"S": f"RECEIPT#{format_id(key.receipt_id)}"},
        },
        ConsistentRead=True,
    )
    entities = [
        entity for page in pages for item in page.get("Items", []) if (entity := entity_from_item(item))
    ]
    return ReceiptState.from_entities(key, entities)
