"""The current DynamoDB state of the receipts a batch touched: one consistent Query per partition.

Every receipt of an image lives in the image's partition (``PK = IMAGE#{image_id}``, ``SK`` starting with
``RECEIPT#{receipt_id}``), so the receipts a batch touched in one image are read by a single Query over the
sort-key range from the lowest to the highest of them, instead of one Query per receipt: reads are what a
compaction's time is made of. Items are assigned to receipts by their sort-key prefix (exactly what a
per-receipt ``begins_with`` would return) before any is decoded, so items of receipts in the range that the
batch did not touch are skipped undecoded, and a malformed item fails only its own receipt.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from receipt_compaction.entities import entity_from_item
from receipt_compaction.keys import format_id, render_pk
from receipt_compaction.state import ReceiptKey, ReceiptState

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["PARTITION_READERS", "load_states", "partition_query"]

PARTITION_READERS = 8
"""Partitions read at once (boto3 clients are thread-safe; on DynamoDB a batch waits on latency)."""

_AFTER_RECEIPT = "$"
"""Sorts after every character that may follow a receipt's id in a sort key (``#``), and after none of
the digits: ``RECEIPT#00007$`` is past every item of receipt 7 and before receipt 70000's."""


def receipt_prefix(receipt_id: int) -> str:
    return f"RECEIPT#{format_id(receipt_id)}"


def partition_query(table_name: str, image_id: str, receipt_ids: Iterable[int]) -> dict[str, Any]:
    """The Query parameters reading every item of ``receipt_ids`` in ``image_id``'s partition."""
    prefixes = sorted(receipt_prefix(receipt_id) for receipt_id in set(receipt_ids))
    return {
        "TableName": table_name,
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":pk": {"S": render_pk(image_id)},
            ":low": {"S": prefixes[0]},
            ":high": {"S": prefixes[-1] + _AFTER_RECEIPT},
        },
        "ConsistentRead": True,
    }


def load_states(
    dynamodb: DynamoDBClient, table_name: str, receipts: Sequence[ReceiptKey]
) -> dict[ReceiptKey, ReceiptState | Exception]:
    """Every receipt's state, read one Query per image; a failed read or a malformed item is kept as the
    exception of the receipts it concerns (the caller's per-receipt boundary raises it)."""
    by_image: defaultdict[str, list[int]] = defaultdict(list)
    for receipt in receipts:
        by_image[receipt.image_id].append(receipt.receipt_id)

    def read(image_id: str) -> dict[ReceiptKey, ReceiptState | Exception]:
        return _load_partition(dynamodb, table_name, image_id, by_image[image_id])

    images = sorted(by_image)
    if len(images) <= 1:
        found = [read(image_id) for image_id in images]
    else:
        with ThreadPoolExecutor(max_workers=min(PARTITION_READERS, len(images))) as pool:
            found = list(pool.map(read, images))
    return {key: state for states in found for key, state in states.items()}


def _load_partition(
    dynamodb: DynamoDBClient, table_name: str, image_id: str, receipt_ids: list[int]
) -> dict[ReceiptKey, ReceiptState | Exception]:
    keys = {receipt_prefix(receipt_id): ReceiptKey(image_id, receipt_id) for receipt_id in receipt_ids}
    try:
        pages = dynamodb.get_paginator("query").paginate(**partition_query(table_name, image_id, receipt_ids))
        items: defaultdict[str, list[Any]] = defaultdict(list)
        width = len(next(iter(keys)))
        for page in pages:
            for item in page.get("Items", []):
                sort_key = item.get("SK", {}).get("S")
                if isinstance(sort_key, str) and sort_key[:width] in keys:
                    items[sort_key[:width]].append(item)
    except Exception as error:  # the whole partition's read failed: each of its receipts fails with it
        return dict.fromkeys(keys.values(), error)
    return {key: _state(key, items[prefix]) for prefix, key in keys.items()}


def _state(key: ReceiptKey, items: list[Any]) -> ReceiptState | Exception:
    try:
        return ReceiptState.from_entities(
            key, [entity for item in items if (entity := entity_from_item(item))]
        )
    except Exception as error:  # a malformed item fails its receipt, not its neighbours in the partition
        return error
