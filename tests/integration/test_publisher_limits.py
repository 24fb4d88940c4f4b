"""Issue 13, finding 2: the stream publisher keeps to SQS's size limits, and a record that can never be
published fails alone, at once, without holding back the records after it.

Before: batches were cut by count only (ten ~120 KB messages were one ``SendMessageBatch`` that SQS refused
as too long, identically on every retry), label messages carried the old and new ``reasoning`` (which never
reaches Chroma), and a message too large for SQS was retried like any other failure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.contract import FieldChange, QueueMessage, StreamMessage
from receipt_compaction.entities import Entity, ReceiptMetadata, ReceiptWordLabel
from receipt_compaction.handlers.stream_processor import lambda_handler
from receipt_compaction.harness import create_queue, lambda_stream_event, read_stream_records
from receipt_compaction.harness.pipeline import LocalPipeline
from receipt_compaction.stream import QueuePublisher
from receipt_compaction.stream.publisher import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, entry_size
from receipt_compaction.stream.rejections import FAILURE_QUEUE_VARIABLE
from tests.support.lanes import STREAM_READ_AT_ONCE
from tests.support.queues import bodies, receive_all
from tests.support.resources import Table, unique_name

IMAGE = "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716"
KB = 1000


def metadata_message(n: int, *, name_bytes: int) -> QueueMessage:
    """A merchant rename whose old and new names are ``name_bytes`` long each (both reach Chroma)."""
    old, new = "o" * name_bytes, "n" * name_bytes
    return QueueMessage(
        collection="words",
        message=StreamMessage(
            entity_type="RECEIPT_METADATA",
            entity_data={"image_id": IMAGE, "receipt_id": n},
            changes={"merchant_name": FieldChange(old=old, new=new)},
            event_name="MODIFY",
            timestamp="2026-01-01T00:00:00+00:00",
            stream_record_id=f"event-{n}",
            aws_region="us-east-1",
        ),
    )


class BatchSizes:
    """Records the entry count and the bytes (as SQS counts them) of every ``SendMessageBatch`` call: an
    observer on the client's own events, it changes nothing."""

    def __init__(self, sqs: Any) -> None:
        self.calls: list[tuple[int, int]] = []
        self._events = sqs.meta.events

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        entries = params["Entries"]
        self.calls.append((len(entries), sum(entry_size(entry) for entry in entries)))

    def __enter__(self) -> BatchSizes:
        self._events.register("before-parameter-build.sqs.SendMessageBatch", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        self._events.unregister("before-parameter-build.sqs.SendMessageBatch", self._record)


def test_batches_are_cut_by_bytes_and_every_message_arrives(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    publisher = QueuePublisher(aws_clients.sqs, queue_urls)  # type: ignore[arg-type]
    messages = [metadata_message(n, name_bytes=60 * KB) for n in range(1, 11)]
    with BatchSizes(aws_clients.sqs) as sizes:
        report = publisher.publish(messages)
    assert report.failures == ()
    assert report.sent == 10
    assert [count for count, _ in sizes.calls] == [2, 2, 2, 2, 2]  # ~120 KB each: two to a call
    assert all(size <= MAX_BATCH_BYTES for _, size in sizes.calls)
    received = receive_all(aws_clients.sqs, queue_urls["words"])
    assert sorted(body["entity_data"]["receipt_id"] for body in bodies(received)) == list(range(1, 11))


def test_small_messages_still_go_ten_to_a_call(aws_clients: AwsClients, queue_urls: dict[str, str]) -> None:
    publisher = QueuePublisher(aws_clients.sqs, queue_urls)  # type: ignore[arg-type]
    with BatchSizes(aws_clients.sqs) as sizes:
        report = publisher.publish([metadata_message(n, name_bytes=10) for n in range(1, 24)])
    assert report.failures == ()
    assert [count for count, _ in sizes.calls] == [10, 10, 3]


def test_a_message_that_can_never_fit_is_a_permanent_failure_and_is_never_sent(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    publisher = QueuePublisher(aws_clients.sqs, queue_urls)  # type: ignore[arg-type]
    messages = [metadata_message(1, name_bytes=10)]
    messages += [metadata_message(2, name_bytes=140 * KB)]  # 280 KB: more than any SQS message
    messages += [metadata_message(3, name_bytes=10)]
    with BatchSizes(aws_clients.sqs) as sizes:
        report = publisher.publish(messages)
    assert [(f.index, f.code, f.permanent) for f in report.failures] == [(1, "MessageTooLong", True)]
    assert f"at most {MAX_MESSAGE_BYTES}" in report.failures[0].reason
    assert sizes.calls == [(2, sizes.calls[0][1])]  # one call, without it
    received = receive_all(aws_clients.sqs, queue_urls["words"])
    assert sorted(body["entity_data"]["receipt_id"] for body in bodies(received)) == [1, 3]


def test_a_call_sqs_refuses_as_too_long_is_split_until_it_fits(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    """SQS's own accounting may be stricter than ours: a call it refuses as too long is split in halves."""
    # Our limits set loose (1 MiB a message, 2 MiB a call): the server (1 MiB a call) refuses the first call.
    publisher = QueuePublisher(
        aws_clients.sqs,  # type: ignore[arg-type]
        queue_urls,
        max_message_bytes=1_048_576,
        max_batch_bytes=2_097_152,
    )
    messages = [metadata_message(n, name_bytes=150 * KB) for n in range(1, 6)]  # 5 x 300 KB
    with BatchSizes(aws_clients.sqs) as sizes:
        report = publisher.publish(messages)
    assert report.failures == ()
    assert sizes.calls[0][0] == 5
    assert sum(count for count, _ in sizes.calls[1:]) == 5
    assert len(receive_all(aws_clients.sqs, queue_urls["words"])) == 5


# -- through the stream processor, from a real stream ----------------------------------------------------


@pytest.fixture
def failure_queue(
    aws_clients: AwsClients, handler_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url = create_queue(aws_clients.sqs, unique_name("stream-failures"))
    monkeypatch.setenv(FAILURE_QUEUE_VARIABLE, url)
    yield url
    aws_clients.sqs.delete_queue(QueueUrl=url)


def put(clients: AwsClients, table: Table, *entities: Entity) -> None:
    for entity in entities:
        clients.dynamodb.put_item(TableName=table.name, Item=entity.to_item())  # type: ignore[arg-type]


def handle_stream(clients: AwsClients, table: Table, *, after: int = 0) -> tuple[dict[str, Any], int]:
    records = read_stream_records(clients.dynamodbstreams, table.stream_arn)[after:]
    event = lambda_stream_event(records, stream_arn=table.stream_arn, region=clients.region)
    return lambda_handler(event, None), len(records)


def labels(reasoning: str, status: str) -> list[ReceiptWordLabel]:
    return [
        ReceiptWordLabel(
            image_id=IMAGE,
            receipt_id=1,
            line_id=1,
            word_id=word_id,
            label="TOTAL",
            validation_status=status,  # type: ignore[arg-type]
            reasoning=f"{word_id}{reasoning}",
        )
        for word_id in range(1, 11)
    ]


@STREAM_READ_AT_ONCE
@pytest.mark.usefixtures("handler_env")
def test_label_messages_carry_only_what_reaches_chroma(
    aws_clients: AwsClients, table: Table, queue_urls: dict[str, str]
) -> None:
    put(aws_clients, table, *labels("a" * 60 * KB, "PENDING"))
    response, seen = handle_stream(aws_clients, table)
    assert response == {"batchItemFailures": []}
    receive_all(aws_clients.sqs, queue_urls["words"])
    put(aws_clients, table, *labels("b" * 60 * KB, "VALID"))  # ten MODIFYs of ~120 KB of reasoning each
    response, _ = handle_stream(aws_clients, table, after=seen)
    assert response == {"batchItemFailures": []}
    received = receive_all(aws_clients.sqs, queue_urls["words"])
    assert len(received) == 10
    assert all(len(message["Body"]) < 2 * KB for message in received)
    assert {json.dumps(body["changes"], sort_keys=True) for body in bodies(received)} == {
        json.dumps({"validation_status": {"old": "PENDING", "new": "VALID"}}, sort_keys=True)
    }


@STREAM_READ_AT_ONCE
@pytest.mark.usefixtures("handler_env")
def test_ten_large_renames_all_get_through(
    aws_clients: AwsClients, table: Table, queue_urls: dict[str, str]
) -> None:
    names = [
        ReceiptMetadata(image_id=IMAGE, receipt_id=n, merchant_name=f"{n}" + "o" * 60 * KB)
        for n in range(1, 11)
    ]
    put(aws_clients, table, *names)
    _, seen = handle_stream(aws_clients, table)
    for collection in ("lines", "words"):
        receive_all(aws_clients.sqs, queue_urls[collection])
    put(
        aws_clients,
        table,
        *(m.model_copy(update={"merchant_name": f"{m.receipt_id}" + "n" * 60 * KB}) for m in names),
    )
    response, _ = handle_stream(aws_clients, table, after=seen)
    assert response == {"batchItemFailures": []}
    for collection in ("lines", "words"):
        received = receive_all(aws_clients.sqs, queue_urls[collection])
        assert sorted(body["entity_data"]["receipt_id"] for body in bodies(received)) == list(range(1, 11))


@STREAM_READ_AT_ONCE
def test_a_record_that_can_never_be_published_is_dead_lettered_at_once_and_the_rest_get_through(
    aws_clients: AwsClients,
    table: Table,
    queue_urls: dict[str, str],
    failure_queue: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    small = [ReceiptMetadata(image_id=IMAGE, receipt_id=n, merchant_name=f"Shop {n}") for n in (1, 3)]
    huge = ReceiptMetadata(image_id=IMAGE, receipt_id=2, merchant_name="h" * 150 * KB)
    put(aws_clients, table, small[0])
    put(aws_clients, table, huge)  # an INSERT of 150 KB: its message fits
    put(aws_clients, table, small[1])
    _, seen = handle_stream(aws_clients, table)
    for collection in ("lines", "words"):
        receive_all(aws_clients.sqs, queue_urls[collection])
    put(aws_clients, table, small[0].model_copy(update={"merchant_name": "Shop One"}))
    put(aws_clients, table, huge.model_copy(update={"merchant_name": "g" * 150 * KB}))  # old + new: 300 KB
    put(aws_clients, table, small[1].model_copy(update={"merchant_name": "Shop Three"}))
    with caplog.at_level(logging.ERROR, logger="receipt_compaction.stream.rejections"):
        response, count = handle_stream(aws_clients, table, after=seen)
    assert count == 3
    assert response == {"batchItemFailures": []}  # never retried, and it holds nothing back
    for collection in ("lines", "words"):
        received = receive_all(aws_clients.sqs, queue_urls[collection])
        assert sorted(body["entity_data"]["receipt_id"] for body in bodies(received)) == [1, 3]
    (letter,) = receive_all(aws_clients.sqs, failure_queue)
    dead = json.loads(letter["Body"])
    assert "MessageTooLong" in dead["reason"]
    assert dead["records"][0]["Keys"]["SK"] == {"S": "RECEIPT#00002#METADATA"}
    assert any("can never be published" in record.getMessage() for record in caplog.records)


def test_ten_label_updates_with_60_kb_reasoning_reach_the_snapshot_through_the_pipeline(
    pipeline: LocalPipeline,
) -> None:
    """The issue's run: none of these records ends on the on-failure queue."""
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[[f"W{n}" for n in range(1, 11)]])
    pipeline_labels = labels("a" * 60 * KB, "PENDING")
    for label in pipeline_labels:
        pipeline.put(label)
    first = pipeline.drain()
    for label in labels("b" * 60 * KB, "VALID"):
        pipeline.put(label)
    second = pipeline.drain()
    assert (first.on_failure_arrivals, second.on_failure_arrivals) == (0, 0)
    assert second.batch_item_failures == ()
    assert sum(second.dlq_arrivals.values()) == 0
    words = pipeline.latest_snapshot("words").get(where={"label_status": "validated"})
    assert len(words["ids"]) == 10
