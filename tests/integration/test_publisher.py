"""Publishing to real SQS queues on the backend: batching, FIFO fields, retries of failed entries."""

from __future__ import annotations

import json

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.contract import QueueMessage, StreamMessage
from receipt_compaction.harness import create_queue
from receipt_compaction.harness.faults import SqsEntryFaults
from receipt_compaction.settings import SettingsError
from receipt_compaction.stream import PublishError, QueuePublisher
from tests.support.queues import attributes, receive_all
from tests.support.resources import unique_name

IMAGE_ID = "0d8bb0f4-3b1e-4c36-9a55-1f8a3a3c6f10"


def message(collection: str, n: int, *, region: str, receipt_id: int = 1) -> QueueMessage:
    """A word REMOVE message, as the stream stage sends it from a record in ``region``."""
    return QueueMessage(
        collection=collection,  # type: ignore[arg-type]
        message=StreamMessage(
            entity_type="RECEIPT_WORD",
            entity_data={"image_id": IMAGE_ID, "receipt_id": receipt_id, "line_id": 1, "word_id": n},
            changes={},
            event_name="REMOVE",
            timestamp="2026-01-01T00:00:00+00:00",
            stream_record_id=f"event-{n}",
            aws_region=region,
        ),
    )


def word_ids(received: list[dict[str, object]]) -> list[int]:
    return sorted(json.loads(m["Body"])["entity_data"]["word_id"] for m in received)  # type: ignore[index, arg-type]


def word_id_of(entry: dict[str, object]) -> int:
    word_id: int = json.loads(entry["MessageBody"])["entity_data"]["word_id"]  # type: ignore[arg-type]
    return word_id


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def test_standard_queues_get_batches_of_ten_without_fifo_fields(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    publisher = QueuePublisher(aws_clients.sqs, queue_urls)  # type: ignore[arg-type]
    messages = [message("words", n, region=aws_clients.region) for n in range(23)] + [
        message("lines", n, region=aws_clients.region) for n in range(3)
    ]
    with SqsEntryFaults(aws_clients.sqs) as calls:
        report = publisher.publish(messages)
    assert report.failures == ()
    assert report.sent == 26
    assert calls.call_count == 4  # words: 10 + 10 + 3, lines: 3
    words = receive_all(aws_clients.sqs, queue_urls["words"])
    assert word_ids(words) == list(range(23))
    assert word_ids(receive_all(aws_clients.sqs, queue_urls["lines"])) == [0, 1, 2]
    assert "MessageGroupId" not in words[0]["Attributes"]
    assert attributes(words[0])["collection"] == "words"


def test_fifo_queues_get_a_group_per_receipt_and_a_deduplication_id(aws_clients: AwsClients) -> None:
    urls = {c: create_queue(aws_clients.sqs, unique_name(c), fifo=True) for c in ("lines", "words")}
    publisher = QueuePublisher(aws_clients.sqs, urls)  # type: ignore[arg-type]
    messages = [
        message("words", 1, receipt_id=1, region=aws_clients.region),
        message("words", 2, receipt_id=2, region=aws_clients.region),
    ]
    assert publisher.publish(messages).failures == ()
    assert publisher.publish(messages).failures == ()  # the same records again: deduplicated by SQS
    received = receive_all(aws_clients.sqs, urls["words"])
    assert word_ids(received) == [1, 2]
    groups = sorted(m["Attributes"]["MessageGroupId"] for m in received)
    assert groups == [f"IMAGE#{IMAGE_ID}#RECEIPT#00001", f"IMAGE#{IMAGE_ID}#RECEIPT#00002"]
    assert all(len(m["Attributes"]["MessageDeduplicationId"]) == 64 for m in received)


def test_failed_entries_are_retried_with_backoff_and_arrive_once(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    sleep = RecordingSleep()
    publisher = QueuePublisher(aws_clients.sqs, queue_urls, sleep=sleep)  # type: ignore[arg-type]
    # The first call fails entries 0 and 3, the second (the retry of those two) fails entry 0 again.
    with SqsEntryFaults(aws_clients.sqs, calls={1: {0, 3}, 2: {0}}) as faults:
        report = publisher.publish([message("words", n, region=aws_clients.region) for n in range(5)])
    assert report.failures == ()
    assert faults.call_count == 3
    assert faults.failed_ids == ["0", "3", "0"]
    assert sleep.delays == [0.1, 0.2]
    assert word_ids(receive_all(aws_clients.sqs, queue_urls["words"])) == [0, 1, 2, 3, 4]


def test_entries_failing_every_attempt_are_reported_with_one_clear_error(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    sleep = RecordingSleep()
    publisher = QueuePublisher(aws_clients.sqs, queue_urls, max_attempts=3, max_backoff=0.15, sleep=sleep)  # type: ignore[arg-type]
    with SqsEntryFaults(aws_clients.sqs, where=lambda entry: word_id_of(entry) == 0) as faults:
        report = publisher.publish([message("words", n, region=aws_clients.region) for n in range(3)])
    assert faults.call_count == 3
    assert sleep.delays == [0.1, 0.15]  # bounded by max_backoff
    assert [failure.index for failure in report.failures] == [0]
    assert word_ids(receive_all(aws_clients.sqs, queue_urls["words"])) == [1, 2]
    with pytest.raises(PublishError) as caught:
        report.raise_for_failures()
    assert str(caught.value) == (
        f"SQS did not accept 1 message(s) for the 'words' queue ({queue_urls['words']}): "
        "InternalError: injected fault"
    )


def test_sender_faults_are_not_retried(aws_clients: AwsClients, queue_urls: dict[str, str]) -> None:
    publisher = QueuePublisher(aws_clients.sqs, queue_urls, sleep=RecordingSleep())  # type: ignore[arg-type]
    with SqsEntryFaults(
        aws_clients.sqs, calls={1: {1}}, sender_fault=True, code="InvalidParameterValue"
    ) as faults:
        report = publisher.publish([message("lines", n, region=aws_clients.region) for n in range(2)])
    assert faults.call_count == 1
    assert [(f.index, f.code) for f in report.failures] == [(1, "InvalidParameterValue")]


def test_a_missing_queue_fails_every_message_sent_to_it(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    urls = {**queue_urls, "lines": queue_urls["lines"] + "-gone"}
    publisher = QueuePublisher(aws_clients.sqs, urls)  # type: ignore[arg-type]
    report = publisher.publish(
        [
            message("lines", 1, region=aws_clients.region),
            message("words", 2, region=aws_clients.region),
            message("lines", 3, region=aws_clients.region),
        ]
    )
    assert sorted(failure.index for failure in report.failures) == [0, 2]
    assert {failure.collection for failure in report.failures} == {"lines"}
    assert word_ids(receive_all(aws_clients.sqs, queue_urls["words"])) == [2]
    assert "NonExistentQueue" in report.failures[0].code or "QueueDoesNotExist" in report.failures[0].code


def test_a_missing_queue_url_names_the_environment_variable(aws_clients: AwsClients) -> None:
    with pytest.raises(SettingsError, match="no queue URL for 'words': set WORDS_QUEUE_URL"):
        QueuePublisher(aws_clients.sqs, {"lines": "http://x/q"})  # type: ignore[arg-type]
