"""Every entity class the pipeline knows, and recognising one from its key.

Adding an entity type is one class plus one line in ``ENTITY_CLASSES``.
"""

from __future__ import annotations

from receipt_compaction.entities.base import Entity, Item
from receipt_compaction.entities.labels import ReceiptWordLabel
from receipt_compaction.entities.metadata import ReceiptMetadata
from receipt_compaction.entities.receipt import Receipt, ReceiptLine, ReceiptWord
from receipt_compaction.entities.runs import CompactionRun
from receipt_compaction.keys import (
    SEPARATOR,
    LiteralSegment,
    explain_mismatch,
    image_id_from_pk,
    match_sort_key,
)

__all__ = ["ENTITY_CLASSES", "entity_class_for_key", "entity_from_item", "unrecognised_key"]

ENTITY_CLASSES: tuple[type[Entity], ...] = (
    Receipt,
    ReceiptLine,
    ReceiptWord,
    ReceiptMetadata,
    ReceiptWordLabel,
    CompactionRun,
)


def entity_class_for_key(pk: str, sk: str) -> type[Entity] | None:
    """The entity class whose key shape ``PK``/``SK`` has, or None (not an image item, or unknown)."""
    if image_id_from_pk(pk) is None:
        return None
    head, _, _ = sk.partition(SEPARATOR)
    for entity_class in _BY_SHAPE.get((head, sk.count(SEPARATOR) + 1), ()):
        if match_sort_key(entity_class.SORT_KEY, sk) is not None:
            return entity_class
    return None


def unrecognised_key(pk: str, sk: str) -> str | None:
    """For an image item whose key is no entity's: why, when it has an entity's segments but values that
    entity refuses (a run id that is a timestamp, a receipt id of six digits); None for any other key.

    Such an item was meant for the pipeline and is lost to it, so it deserves a warning, not silence."""
    if image_id_from_pk(pk) is None or entity_class_for_key(pk, sk) is not None:
        return None
    for entity_class in ENTITY_CLASSES:
        problem = explain_mismatch(entity_class.SORT_KEY, sk)
        if problem is not None:
            return (
                f"SK {sk!r} has the segments of a {entity_class.ENTITY_TYPE} key "
                f"({entity_class.key_template()}) but {problem}"
            )
    return None


def _shape_index() -> dict[tuple[str, int], tuple[type[Entity], ...]]:
    """Candidate classes by (first segment name, token count): every key read asks, so only the classes
    that can match are tried; ``match_sort_key`` still decides."""
    index: dict[tuple[str, int], tuple[type[Entity], ...]] = {}
    for entity_class in ENTITY_CLASSES:
        tokens = sum(1 if isinstance(s, LiteralSegment) else 2 for s in entity_class.SORT_KEY)
        signature = (entity_class.SORT_KEY[0].name, tokens)
        index[signature] = (*index.get(signature, ()), entity_class)
    return index


_BY_SHAPE = _shape_index()


def entity_from_item(item: Item) -> Entity | None:
    """Decode any known entity from a DynamoDB JSON item; None when its key is no known entity's."""
    pk, sk = item.get("PK", {}).get("S"), item.get("SK", {}).get("S")
    if not isinstance(pk, str) or not isinstance(sk, str):
        return None
    entity_class = entity_class_for_key(pk, sk)
    return entity_class.from_item(item) if entity_class else None
