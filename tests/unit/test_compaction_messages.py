"""SQS records into compaction messages: poison messages fail one by one, the rest apply."""

from __future__ import annotations

import json
from typing import Any

import pytest

from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.compaction import CompactionMessage, parse_sqs_record, parse_sqs_records
from receipt_compaction.compaction.inbox import MessageError
from receipt_compaction.contract import QueueMessage
from receipt_compaction.entities import ReceiptWordLabel
from tests.support.records import REGION
from tests.support.world import World, sqs_record

IMAGE = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def poison(body: str, collection: str | None = "words", message_id: str = "poison") -> dict[str, Any]:
    attributes = (
        {} if collection is None else {"collection": {"stringValue": collection, "dataType": "String"}}
    )
    return {"messageId": message_id, "body": body, "messageAttributes": attributes}


VALID_BODY = {
    "source": "dynamodb_stream",
    "entity_type": "RECEIPT_WORD_LABEL",
    "entity_data": {"image_id": IMAGE, "receipt_id": 1, "line_id": 1, "word_id": 1, "label": "TOTAL"},
    "changes": {},
    "event_name": "INSERT",
    "timestamp": "2026-01-01T00:00:00+00:00",
    "stream_record_id": "e1",
    "aws_region": REGION,
}


def body(**changes: Any) -> str:
    return json.dumps({**VALID_BODY, **changes})


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (poison("{not json"), "the body is not JSON"),
        (poison(json.dumps([1, 2])), "the body is not a stream message"),
        (poison(body(entity_type="RECEIPT_SECTION")), "unknown entity_type 'RECEIPT_SECTION'"),
        (poison(body(event_name="UPSERT")), "field 'event_name'"),
        (poison(body(entity_data={"image_id": IMAGE, "receipt_id": 1})), "lacks line_id, word_id, label"),
        (
            poison(body(entity_data={**VALID_BODY["entity_data"], "receipt_id": "1"})),
            "is not a RECEIPT_WORD_LABEL key",
        ),
        (
            poison(body(entity_data={**VALID_BODY["entity_data"], "label": "to#tal"})),
            "is not a RECEIPT_WORD_LABEL key",
        ),
        (
            poison(body(entity_data={**VALID_BODY["entity_data"], "image_id": "x"})),
            "is not a RECEIPT_WORD_LABEL key",
        ),
        (
            poison(body(), collection="lines"),
            "RECEIPT_WORD_LABEL messages do not belong to the 'lines' collection",
        ),
        (
            poison(body(), collection="receipt_summary"),
            "message attribute 'collection' must be one of lines, words",
        ),
        (
            poison(body(), collection=None),
            "message attribute 'collection' must be one of lines, words, got None",
        ),
        ({"messageId": "x"}, "the SQS record has no string body"),
        ("a string", "an SQS record must be an object"),
    ],
)
def test_poison_records_are_rejected_with_a_reason(record: object, reason: str) -> None:
    with pytest.raises(MessageError) as caught:
        parse_sqs_record(record)
    assert reason in str(caught.value)


def test_the_receive_message_shape_is_accepted_too() -> None:
    record = {
        "MessageId": "m-1",
        "Body": body(),
        "MessageAttributes": {"collection": {"StringValue": "words", "DataType": "String"}},
    }
    message = parse_sqs_record(record)
    assert message.message_id == "m-1"
    assert message.key == VALID_BODY["entity_data"]


def test_poison_messages_fail_while_the_rest_apply(world: World) -> None:
    world.seed(IMAGE, 1, [["TOTAL"]])
    good = world.change(
        "INSERT",
        new=ReceiptWordLabel(
            image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label="TOTAL", validation_status="VALID"
        ),
    )
    records = [
        poison("{not json", message_id="bad-json"),
        sqs_record_of(good[0], "good"),
        poison(body(entity_type="NOPE"), message_id="unknown-type"),
        poison(body(entity_data={"image_id": IMAGE}), message_id="missing-keys"),
    ]
    messages, failures = parse_sqs_records(records)
    assert [failure.message_id for failure in failures] == ["bad-json", "unknown-type", "missing-keys"]
    result = world.compact(messages, "words")
    assert [(o.message_id, o.status) for o in result.outcomes] == [("good", "applied")]
    assert world.metadata("words", word_embedding_id(IMAGE, 1, 1, 1))["valid_labels"] == ["TOTAL"]


def sqs_record_of(message: CompactionMessage, message_id: str) -> dict[str, Any]:
    """The SQS record that carried ``message``, under another message id."""
    return sqs_record(QueueMessage(collection=message.collection, message=message.message), message_id)
