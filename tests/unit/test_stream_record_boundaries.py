"""Issue 13: on the stream side too, a record that raises anything while it is read fails alone.

A record whose image nests Map attributes deeper than the deserializer recurses (DynamoDB itself stops at 32
levels; a hand-made or replayed event need not) raised RecursionError out of ``process_stream_records`` and
failed the whole batch. Now it is *rejected* (dead-lettered at once, never retried) and the others are sent.

Issue 15 (P2): the stage decodes only what a message is made of (keys and ``CHROMA_FIELDS``), so the deep
nesting must sit in such a field to be read at all; one in an attribute no message reads is never decoded.
"""

from __future__ import annotations

from typing import Any

from receipt_compaction.aws import AwsClients
from receipt_compaction.entities import ReceiptMetadata
from receipt_compaction.stream import QueuePublisher, process_stream_records
from tests.support.queues import bodies, receive_all
from tests.support.records import stream_record

IMAGE = "2b3c4d5e-6f70-4a1b-8c2d-3e4f5a6b7c8d"


def deeply_nested_record(attribute: str = "merchant_name") -> dict[str, Any]:
    record = stream_record("INSERT", new=ReceiptMetadata(image_id=IMAGE, receipt_id=2, merchant_name="Deep"))
    value: dict[str, Any] = {"S": "bottom"}
    for _ in range(5_000):
        value = {"M": {"a": value}}
    record["dynamodb"]["NewImage"][attribute] = value
    return record


def test_a_record_that_raises_while_read_is_rejected_alone(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    good = [
        stream_record("INSERT", new=ReceiptMetadata(image_id=IMAGE, receipt_id=n, merchant_name=f"Shop {n}"))
        for n in (1, 3)
    ]
    publisher = QueuePublisher(aws_clients.sqs, queue_urls)  # type: ignore[arg-type]
    result = process_stream_records([good[0], deeply_nested_record(), good[1]], publisher=publisher)
    assert [outcome.status for outcome in result.outcomes] == ["sent", "rejected", "sent"]
    rejected = result.outcomes[1]
    assert "RecursionError" in rejected.reason
    assert rejected.keys == {"PK": {"S": f"IMAGE#{IMAGE}"}, "SK": {"S": "RECEIPT#00002#METADATA"}}
    assert result.batch_item_failures() == []
    received = receive_all(aws_clients.sqs, queue_urls["words"])
    assert sorted(body["entity_data"]["receipt_id"] for body in bodies(received)) == [1, 3]


def test_an_attribute_no_message_reads_is_never_decoded(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    publisher = QueuePublisher(aws_clients.sqs, queue_urls)  # type: ignore[arg-type]
    result = process_stream_records([deeply_nested_record("deep")], publisher=publisher)
    assert [outcome.status for outcome in result.outcomes] == ["sent"]
    (body,) = bodies(receive_all(aws_clients.sqs, queue_urls["words"]))
    assert body["changes"]["merchant_name"] == {"old": None, "new": "Deep"}
