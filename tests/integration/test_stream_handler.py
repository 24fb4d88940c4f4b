"""The stream processor Lambda handler end to end: table -> stream -> handler -> queues."""

from __future__ import annotations

import pytest

from receipt_compaction.aws import HANDLER_EVENTS, AwsClients
from receipt_compaction.entities import (
    CompactionRun,
    Entity,
    Receipt,
    ReceiptLine,
    ReceiptMetadata,
    ReceiptWord,
    ReceiptWordLabel,
)
from receipt_compaction.handlers.stream_processor import lambda_handler
from receipt_compaction.harness import lambda_stream_event, read_stream_records
from receipt_compaction.harness.backends import Backend
from receipt_compaction.harness.faults import SqsEntryFaults
from receipt_compaction.settings import SettingsError
from tests.support.lanes import STREAM_READ_AT_ONCE
from tests.support.queues import attributes, bodies, receive_all
from tests.support.resources import Table

IMAGE_ID = "6c1f3ad0-2a5e-4f59-8d0e-7b2c4e9f1a33"
KEY = {"image_id": IMAGE_ID, "receipt_id": 1}


def put(clients: AwsClients, table: Table, entity: Entity) -> None:
    clients.dynamodb.put_item(TableName=table.name, Item=entity.to_item())  # type: ignore[arg-type]


def delete(clients: AwsClients, table: Table, entity: Entity) -> None:
    clients.dynamodb.delete_item(TableName=table.name, Key=entity.key())  # type: ignore[arg-type]


def stream_event(clients: AwsClients, table: Table) -> dict[str, object]:
    return lambda_stream_event(
        read_stream_records(clients.dynamodbstreams, table.stream_arn),
        stream_arn=table.stream_arn,
        region=clients.region,
    )


@STREAM_READ_AT_ONCE
@pytest.mark.usefixtures("handler_env")
def test_items_written_to_the_table_reach_the_right_queues(
    aws_clients: AwsClients, table: Table, queue_urls: dict[str, str]
) -> None:
    word = ReceiptWord(**KEY, line_id=1, word_id=2, text="12.50")
    label = ReceiptWordLabel(**KEY, line_id=1, word_id=2, label="GRAND_TOTAL", validation_status="PENDING")
    metadata = ReceiptMetadata(**KEY, merchant_name="Corner Shop")
    put(aws_clients, table, Receipt(**KEY))  # no message: an INSERT of a receipt changes no embedding
    put(aws_clients, table, ReceiptLine(**KEY, line_id=1, text="TOTAL 12.50"))  # nor of a line
    put(aws_clients, table, word)  # nor of a word
    put(aws_clients, table, metadata)  # -> lines, words
    put(aws_clients, table, label)  # -> words
    put(aws_clients, table, label.model_copy(update={"validation_status": "VALID"}))  # -> words
    put(aws_clients, table, metadata.model_copy(update={"phone_number": ""}))  # empty is unset: no change
    put(aws_clients, table, CompactionRun(**KEY, run_id="run-7"))  # -> lines, words
    delete(aws_clients, table, word)  # -> words
    aws_clients.dynamodb.put_item(  # a lock item is not an image item: ignored
        TableName=table.name, Item={"PK": {"S": "LOCK#words"}, "SK": {"S": "LOCK"}}
    )

    event = stream_event(aws_clients, table)
    assert len(event["Records"]) == 10  # type: ignore[arg-type]
    assert lambda_handler(event, None) == {"batchItemFailures": []}

    lines = receive_all(aws_clients.sqs, queue_urls["lines"])
    words = receive_all(aws_clients.sqs, queue_urls["words"])
    assert [(b["entity_type"], b["event_name"]) for b in bodies(lines)] == [
        ("RECEIPT_METADATA", "INSERT"),
        ("COMPACTION_RUN", "INSERT"),
    ]
    assert [(b["entity_type"], b["event_name"]) for b in bodies(words)] == [
        ("RECEIPT_METADATA", "INSERT"),
        ("RECEIPT_WORD_LABEL", "INSERT"),
        ("RECEIPT_WORD_LABEL", "MODIFY"),
        ("COMPACTION_RUN", "INSERT"),
        ("RECEIPT_WORD", "REMOVE"),
    ]
    label_modify = bodies(words)[2]
    assert label_modify["changes"] == {"validation_status": {"old": "PENDING", "new": "VALID"}}
    assert label_modify["entity_data"] == {**KEY, "line_id": 1, "word_id": 2, "label": "GRAND_TOTAL"}
    record_ids = [record["eventID"] for record in event["Records"]]  # type: ignore[attr-defined]
    assert label_modify["stream_record_id"] == record_ids[5]
    assert label_modify["aws_region"] == event["Records"][5]["awsRegion"]  # the record's, as the backend says
    assert attributes(words[2]) == {
        "source": "dynamodb_stream",
        "collection": "words",
        "entity_type": "RECEIPT_WORD_LABEL",
        "event_name": "MODIFY",
    }
    assert bodies(lines)[1]["entity_data"]["delta_s3_prefix"] == "lines/delta/run-7/"


@STREAM_READ_AT_ONCE
@pytest.mark.usefixtures("handler_env")
def test_records_whose_messages_fail_are_reported_by_sequence_number(
    aws_clients: AwsClients, table: Table, queue_urls: dict[str, str]
) -> None:
    labels = [ReceiptWordLabel(**KEY, line_id=1, word_id=w, label="TOTAL") for w in (1, 2, 3)]
    for label in labels:
        put(aws_clients, table, label)
    event = stream_event(aws_clients, table)
    sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]  # type: ignore[attr-defined]
    # Every handler client's calls reach HANDLER_EVENTS: the message about word 2 (the second record) fails
    # on every attempt.
    with SqsEntryFaults(HANDLER_EVENTS, where=lambda entry: '"word_id":2' in entry["MessageBody"]):
        response = lambda_handler(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence_numbers[1]}]}
    assert sorted(
        b["entity_data"]["word_id"] for b in bodies(receive_all(aws_clients.sqs, queue_urls["words"]))
    ) == [
        1,
        3,
    ]


def test_a_missing_queue_url_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, compaction_backend: Backend
) -> None:
    monkeypatch.setenv("AWS_REGION", compaction_backend.region)
    monkeypatch.setenv("LINES_QUEUE_URL", "http://127.0.0.1:1/lines")
    monkeypatch.delenv("WORDS_QUEUE_URL", raising=False)
    with pytest.raises(SettingsError, match=r"^environment variable WORDS_QUEUE_URL is not set"):
        lambda_handler({"Records": []}, None)


@pytest.mark.usefixtures("handler_env")
@pytest.mark.parametrize("event", [{}, {"Records": "nope"}, [], None])
def test_an_event_that_is_no_stream_event_is_a_clear_error(event: object) -> None:
    with pytest.raises(ValueError, match="expected a DynamoDB stream event with a 'Records' list"):
        lambda_handler(event, None)  # type: ignore[arg-type]


@STREAM_READ_AT_ONCE
@pytest.mark.usefixtures("handler_env")
def test_get_records_shape_is_accepted_as_is(
    aws_clients: AwsClients, table: Table, queue_urls: dict[str, str]
) -> None:
    put(aws_clients, table, ReceiptMetadata(**KEY, merchant_name="Shop"))
    records = read_stream_records(aws_clients.dynamodbstreams, table.stream_arn)
    assert lambda_handler({"Records": records}, None) == {"batchItemFailures": []}
    assert len(receive_all(aws_clients.sqs, queue_urls["lines"])) == 1
