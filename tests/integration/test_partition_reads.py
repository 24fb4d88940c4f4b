"""Reconciling reads one consistent Query per image partition, however many of its receipts a batch touched,
and still keeps each receipt's failures to itself."""

from __future__ import annotations

from typing import Any

from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.entities import ReceiptWord, ReceiptWordLabel
from tests.support.world import World

IMAGE = "3c8d0e2f-6a7b-4c9d-8e1f-2a3b4c5d6e7f"
OTHER = "4d9e1f3a-7b8c-4d0e-9f2a-3b4c5d6e7f80"


def label(image_id: str, receipt_id: int, name: str) -> ReceiptWordLabel:
    return ReceiptWordLabel(
        image_id=image_id, receipt_id=receipt_id, line_id=1, word_id=1, label=name, validation_status="VALID"
    )


def count_queries(world: World) -> list[dict[str, Any]]:
    """The Query requests the world's DynamoDB client sends from now on (botocore's own event hook)."""
    sent: list[dict[str, Any]] = []
    world.clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: sent.append(dict(params))
    )
    return sent


def test_receipts_sharing_an_image_are_read_with_one_query_and_untouched_ones_are_left_alone(
    world: World,
) -> None:
    for receipt_id in (1, 2, 3, 7):
        world.seed(IMAGE, receipt_id, [[f"R{receipt_id}"]])
    world.seed(OTHER, 1, [["O"]])
    messages = [
        message
        for image_id, receipt_id in ((IMAGE, 1), (IMAGE, 3), (IMAGE, 7), (OTHER, 1))
        for message in world.change("INSERT", new=label(image_id, receipt_id, f"L{receipt_id}"))
    ]
    world.put(label(IMAGE, 2, "UNTOUCHED"))  # in the range read, but no message names receipt 2
    queries = count_queries(world)
    result = world.compact(messages, "words")
    assert result.failed_message_ids == []
    assert sorted(query["ExpressionAttributeValues"][":pk"]["S"] for query in queries) == [
        f"IMAGE#{IMAGE}",
        f"IMAGE#{OTHER}",
    ]
    for image_id, receipt_id in ((IMAGE, 1), (IMAGE, 3), (IMAGE, 7), (OTHER, 1)):
        metadata = world.metadata("words", word_embedding_id(image_id, receipt_id, 1, 1))
        assert metadata["valid_labels"] == [f"L{receipt_id}"]
    assert "valid_labels" not in world.metadata("words", word_embedding_id(IMAGE, 2, 1, 1))
    assert result.updated == 4


def test_a_malformed_item_fails_only_its_receipt_not_the_others_in_its_partition(world: World) -> None:
    world.seed(IMAGE, 1, [["A"]])
    world.seed(IMAGE, 2, [["B"]])
    broken = ReceiptWord(image_id=IMAGE, receipt_id=2, line_id=9, word_id=9, text="x").to_item()
    broken["text"] = {"N": "7"}
    world.clients.dynamodb.put_item(TableName=world.table, Item=broken)  # type: ignore[arg-type]
    good = world.change("INSERT", new=label(IMAGE, 1, "GOOD"))
    bad = world.change("INSERT", new=label(IMAGE, 2, "BAD"))
    result = world.compact(good + bad, "words")
    assert [outcome.status for outcome in result.outcomes] == ["applied", "failed"]
    assert result.outcomes[1].reason.startswith(f"reconciling receipt {IMAGE}/2 failed")
    assert world.metadata("words", word_embedding_id(IMAGE, 1, 1, 1))["valid_labels"] == ["GOOD"]
