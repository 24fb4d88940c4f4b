"""Building the items of a receipt from its words, the way seeding and examples describe one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from receipt_compaction.entities import Receipt, ReceiptLine, ReceiptMetadata, ReceiptWord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from receipt_compaction.entities import Entity

__all__ = ["receipt_entities"]


def receipt_entities(
    *, image_id: str, receipt_id: int, lines: Sequence[Sequence[str]], merchant_name: str | None = None
) -> list[Entity]:
    """The Receipt, its ReceiptLines and ReceiptWords (numbered from 1 in reading order), and a
    ReceiptMetadata when a merchant is given. A line's text is its words joined by spaces."""
    key = {"image_id": image_id, "receipt_id": receipt_id}
    entities: list[Entity] = [Receipt(**key)]
    if merchant_name is not None:
        entities.append(ReceiptMetadata(**key, merchant_name=merchant_name))
    for line_id, words in enumerate(lines, start=1):
        entities.append(ReceiptLine(**key, line_id=line_id, text=" ".join(words)))
        entities += [
            ReceiptWord(**key, line_id=line_id, word_id=word_id, text=text)
            for word_id, text in enumerate(words, start=1)
        ]
    return entities
