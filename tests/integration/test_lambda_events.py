"""The events under ``tests/events`` fed to both handlers on the backend: AWS's own samples are answered record
by record (skipped, or reported in ``batchItemFailures``), never with a crash; events of the same shape that
carry our entities produce the right messages and the right snapshot changes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pytest_receipt_compaction.plugin import CompactionEnv
from receipt_compaction.aws import AwsClients
from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.entities import ReceiptMetadata, ReceiptWordLabel
from receipt_compaction.handlers import compaction, stream_processor
from receipt_compaction.harness import lambda_sqs_event
from receipt_compaction.harness.pipeline import LocalPipeline
from receipt_compaction.harness.resources import queue_arn
from receipt_compaction.snapshot import SnapshotStore
from receipt_compaction.stream import QueuePublisher, process_stream_records
from tests.support.events import load_event, read_event
from tests.support.queues import bodies, receive_all

IMAGE = "3f52804b-2fad-4e00-92c8-b593da3a8ed3"
"""The image of the entities in ``receipt-*.json``."""
LINES = [["CORNER", "SHOP"], ["TOTAL", "12.50"]]


def region_of(env: CompactionEnv) -> str:
    return env.backend.region


def words_queue_arn(aws_clients: AwsClients, env: CompactionEnv) -> str:
    return queue_arn(aws_clients.sqs, env.resources.queue_urls["words"])


def test_aws_dynamodb_sample_is_skipped_record_by_record(
    compaction_env: CompactionEnv, aws_clients: AwsClients, caplog: pytest.LogCaptureFixture
) -> None:
    resources = compaction_env.resources
    event = load_event(
        "aws-dynamodb-stream-event", region=region_of(compaction_env), source_arn=resources.stream_arn
    )
    with caplog.at_level(logging.WARNING, logger="receipt_compaction"):
        assert stream_processor.lambda_handler(event, None) == {"batchItemFailures": []}
    skipped = [r.getMessage() for r in caplog.records if "skipping malformed stream record" in r.getMessage()]
    assert [message.split(":")[0].rsplit(" ", 1)[1] for message in skipped] == ["1", "2", "3"]
    assert all("Keys must hold PK and SK as S attributes" in message for message in skipped)
    result = process_stream_records(
        event["Records"],
        publisher=QueuePublisher(aws_clients.sqs, resources.queue_urls),  # type: ignore[arg-type]
    )
    assert [(o.event_id, o.status, o.malformed) for o in result.outcomes] == [
        ("1", "skipped", True),
        ("2", "skipped", True),
        ("3", "skipped", True),
    ]
    for url in resources.queue_urls.values():
        assert receive_all(aws_clients.sqs, url) == []


def test_aws_sqs_sample_fails_each_message_and_publishes_nothing(
    compaction_env: CompactionEnv, aws_clients: AwsClients, caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event(
        "aws-sqs-event",
        region=region_of(compaction_env),
        source_arn=words_queue_arn(aws_clients, compaction_env),
    )
    with caplog.at_level(logging.WARNING, logger="receipt_compaction"):
        response = compaction.lambda_handler(event, None)
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"},
            {"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"},
        ]
    }
    reasons = [r.getMessage() for r in caplog.records if "can never apply" in r.getMessage()]
    assert len(reasons) == 2
    assert all("the body is not JSON" in reason for reason in reasons)
    for collection in ("lines", "words"):
        store = SnapshotStore(aws_clients.s3, compaction_env.resources.bucket, collection)
        assert store.read_pointer() is None


def test_the_samples_are_aws_text_unchanged() -> None:
    dynamodb = read_event("aws-dynamodb-stream-event")["Records"]
    assert [(r["eventID"], r["eventName"]) for r in dynamodb] == [
        ("1", "INSERT"),
        ("2", "MODIFY"),
        ("3", "REMOVE"),
    ]
    assert {r["awsRegion"] for r in dynamodb} == {"us-east-1"}  # as AWS wrote it; load_event sets ours
    assert dynamodb[1]["dynamodb"]["NewImage"]["Message"] == {"S": "This item has changed"}
    sqs = read_event("aws-sqs-event")["Records"]
    assert [r["body"] for r in sqs] == ["Test message.", "Test message."]


def test_our_stream_event_sends_the_right_messages_and_they_reach_the_snapshots(
    pipeline: LocalPipeline, compaction_env: CompactionEnv, aws_clients: AwsClients
) -> None:
    seeded = pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=LINES, merchant_name="Corner Shop")
    # The table as it stands after the event's three changes (the compactor reads the current state).
    pipeline.put(
        ReceiptWordLabel(
            image_id=IMAGE,
            receipt_id=1,
            line_id=2,
            word_id=2,
            label="GRAND_TOTAL",
            validation_status="VALID",
            reasoning="the amount after TOTAL",
        )
    )
    pipeline.delete(ReceiptMetadata(image_id=IMAGE, receipt_id=1, merchant_name="Corner Shop"))
    resources = compaction_env.resources
    region = region_of(compaction_env)
    event = load_event("receipt-dynamodb-stream-event", region=region, source_arn=resources.stream_arn)
    event_ids = [record["eventID"] for record in event["Records"]]

    assert stream_processor.lambda_handler(event, None) == {"batchItemFailures": []}

    queued = {c: receive_all(aws_clients.sqs, resources.queue_urls[c]) for c in ("lines", "words")}
    words = sorted(bodies(queued["words"]), key=lambda body: event_ids.index(body["stream_record_id"]))
    assert [(b["entity_type"], b["event_name"], b["stream_record_id"]) for b in words] == [
        ("RECEIPT_WORD_LABEL", "INSERT", event_ids[0]),
        ("RECEIPT_WORD_LABEL", "MODIFY", event_ids[1]),
        ("RECEIPT_METADATA", "REMOVE", event_ids[2]),
    ]
    assert words[1]["changes"] == {"validation_status": {"old": "PENDING", "new": "VALID"}}
    assert words[1]["entity_data"] == {
        "image_id": IMAGE,
        "receipt_id": 1,
        "line_id": 2,
        "word_id": 2,
        "label": "GRAND_TOTAL",
    }
    assert words[2]["changes"] == {"merchant_name": {"old": "Corner Shop", "new": None}}
    assert [(b["entity_type"], b["event_name"]) for b in bodies(queued["lines"])] == [
        ("RECEIPT_METADATA", "REMOVE")
    ]
    assert {b["aws_region"] for b in bodies(queued["lines"] + queued["words"])} == {region}

    for collection, messages in queued.items():
        sqs_event = lambda_sqs_event(
            messages, queue_arn=queue_arn(aws_clients.sqs, resources.queue_urls[collection]), region=region
        )
        assert compaction.lambda_handler(sqs_event, None) == {"batchItemFailures": []}
    words_snapshot = pipeline.latest_snapshot("words")
    total = words_snapshot.get(ids=[word_embedding_id(IMAGE, 1, 2, 2)])["metadatas"][0]
    assert (total["valid_labels"], total["label_status"]) == (["GRAND_TOTAL"], "validated")
    for collection in ("lines", "words"):
        snapshot = pipeline.latest_snapshot(collection)
        assert snapshot.version_id not in seeded.report.published_versions[collection]
        assert not any("merchant_name" in metadata for metadata in snapshot.get()["metadatas"])


def test_our_sqs_event_changes_the_words_snapshot_only(
    pipeline: LocalPipeline, compaction_env: CompactionEnv, aws_clients: AwsClients
) -> None:
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=LINES, merchant_name="Corner Shop")
    lines_before = pipeline.latest_snapshot("lines").version_id
    # The table as it stands after the two changes the messages announce.
    pipeline.put(
        ReceiptWordLabel(
            image_id=IMAGE,
            receipt_id=1,
            line_id=1,
            word_id=1,
            label="MERCHANT_NAME",
            validation_status="VALID",
        )
    )
    pipeline.put(ReceiptMetadata(image_id=IMAGE, receipt_id=1, merchant_name="Corner Deli"))
    event = load_event(
        "receipt-sqs-event",
        region=region_of(compaction_env),
        source_arn=words_queue_arn(aws_clients, compaction_env),
    )

    assert compaction.lambda_handler(event, None) == {"batchItemFailures": []}

    words: dict[str, Any] = pipeline.latest_snapshot("words").get()
    by_id = dict(zip(words["ids"], words["metadatas"], strict=True))
    assert by_id[word_embedding_id(IMAGE, 1, 1, 1)]["valid_labels"] == ["MERCHANT_NAME"]
    assert {metadata["merchant_name"] for metadata in by_id.values()} == {"Corner Deli"}
    lines = pipeline.latest_snapshot("lines")
    assert lines.version_id == lines_before  # no message was about the lines collection
    assert {metadata["merchant_name"] for metadata in lines.get()["metadatas"]} == {"Corner Shop"}
