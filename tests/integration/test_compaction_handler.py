"""Both Lambda handlers end to end on the backend: table -> stream -> queues -> compactor -> snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.compaction.runs import load_run
from receipt_compaction.entities import CompactionRun, ReceiptWordLabel
from receipt_compaction.handlers import compaction, stream_processor
from receipt_compaction.harness import (
    lambda_sqs_event,
    lambda_stream_event,
    read_stream_records,
    receipt_entities,
)
from receipt_compaction.harness.backends import Backend
from receipt_compaction.snapshot import SnapshotStore
from tests.support.lanes import STREAM_READ_AT_ONCE
from tests.support.resources import Table
from tests.support.world import World

IMAGE = "0f1e2d3c-4b5a-4c6d-8e7f-9a8b7c6d5e4f"


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch,
    compaction_backend: Backend,
    queue_urls: dict[str, str],
    world: World,
    tmp_path: Path,
) -> dict[str, str]:
    environ = {
        **compaction_backend.environ(),
        "LINES_QUEUE_URL": queue_urls["lines"],
        "WORDS_QUEUE_URL": queue_urls["words"],
        "DYNAMODB_TABLE_NAME": world.table,
        "CHROMADB_BUCKET": world.bucket,
        "EFS_ROOT": str(tmp_path / "efs"),
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return environ


def stream_to_queues(clients: AwsClients, table: Table, seen: set[str]) -> None:
    """Hand the stream records not yet seen to the stream processor, as Lambda would."""
    records = [
        r for r in read_stream_records(clients.dynamodbstreams, table.stream_arn) if r["eventID"] not in seen
    ]
    seen.update(record["eventID"] for record in records)
    assert stream_processor.lambda_handler(
        lambda_stream_event(records, stream_arn=table.stream_arn, region=clients.region), None
    ) == {"batchItemFailures": []}


def receive(clients: AwsClients, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while page := clients.sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    ).get("Messages", []):
        messages += page
    return messages


def compact_queue(clients: AwsClients, queue_url: str) -> dict[str, Any]:
    messages = receive(clients, queue_url)
    arn = clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return compaction.lambda_handler(lambda_sqs_event(messages, queue_arn=arn, region=clients.region), None)


def published_words(world: World, tmp_path: Path, name: str) -> dict[str, Any]:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    pointer = store.read_pointer()
    assert pointer is not None
    store.restore(pointer.version_id, tmp_path / name)
    return World(world.clients, "", "", tmp_path / name).records("words")


@STREAM_READ_AT_ONCE
@pytest.mark.usefixtures("lambda_env")
def test_items_written_to_the_table_end_up_in_the_published_snapshot(
    world: World, table: Table, queue_urls: dict[str, str], tmp_path: Path
) -> None:
    seen: set[str] = set()
    world.put(
        *receipt_entities(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "9.99"]], merchant_name="Shop")
    )
    run = world.produce(world.state(IMAGE, 1), "run-e2e")
    world.put(
        ReceiptWordLabel(
            image_id=IMAGE, receipt_id=1, line_id=1, word_id=2, label="GRAND_TOTAL", validation_status="VALID"
        )
    )
    stream_to_queues(world.clients, table, seen)
    assert compact_queue(world.clients, queue_urls["words"]) == {"batchItemFailures": []}
    assert compact_queue(world.clients, queue_urls["lines"]) == {"batchItemFailures": []}
    words = published_words(world, tmp_path, "v1")
    total = words[word_embedding_id(IMAGE, 1, 1, 2)][1]
    assert (total["merchant_name"], total["valid_labels"]) == ("Shop", ["GRAND_TOTAL"])
    current = load_run(
        world.clients.dynamodb, world.table, CompactionRun(image_id=IMAGE, receipt_id=1, run_id=run.run_id)
    )
    assert current is not None
    assert (current.lines_state, current.words_state) == ("COMPLETED", "COMPLETED")


@STREAM_READ_AT_ONCE
@pytest.mark.usefixtures("lambda_env")
def test_a_poison_message_is_the_only_failure_returned(
    world: World, table: Table, queue_urls: dict[str, str], tmp_path: Path
) -> None:
    seen: set[str] = set()
    world.put(*receipt_entities(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "9.99"]]))
    world.produce(world.state(IMAGE, 1), "run-poison")
    stream_to_queues(world.clients, table, seen)
    world.clients.sqs.send_message(
        QueueUrl=queue_urls["words"],
        MessageBody="{not json",
        MessageAttributes={"collection": {"DataType": "String", "StringValue": "words"}},
    )
    messages = receive(world.clients, queue_urls["words"])
    poison = [m["MessageId"] for m in messages if m["Body"] == "{not json"]
    arn = world.clients.sqs.get_queue_attributes(QueueUrl=queue_urls["words"], AttributeNames=["QueueArn"])
    response = compaction.lambda_handler(
        lambda_sqs_event(messages, queue_arn=arn["Attributes"]["QueueArn"], region=world.clients.region), None
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": poison[0]}]}
    assert sorted(published_words(world, tmp_path, "v1")) == [
        word_embedding_id(IMAGE, 1, 1, 1),
        word_embedding_id(IMAGE, 1, 1, 2),
    ]


def test_missing_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, compaction_backend: Backend
) -> None:
    monkeypatch.setenv("AWS_REGION", compaction_backend.region)
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", "t")
    monkeypatch.delenv("CHROMADB_BUCKET", raising=False)
    with pytest.raises(RuntimeError, match=r"^environment variable CHROMADB_BUCKET is not set"):
        compaction.lambda_handler({"Records": []}, None)
