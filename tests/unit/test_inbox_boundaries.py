"""Issue 13, finding 1: whatever one SQS body does while it is decoded, parsed or validated, it fails alone.

Before this, a 100,000-deep JSON array (RecursionError) or a 5,000-digit integer (ValueError) escaped
``parse_sqs_records`` and failed the whole invocation; a CompactionRun for receipt 100000 parsed, then failed
model validation outside the compactor's per-message ``try`` and took every message of its collection along.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.compaction import CompactionMessage, parse_sqs_records
from receipt_compaction.contract import StreamMessage
from receipt_compaction.entities import CompactionRun, ReceiptWordLabel
from tests.support.records import REGION
from tests.support.world import World

IMAGE = "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9"

LABEL_BODY: dict[str, Any] = {
    "source": "dynamodb_stream",
    "entity_type": "RECEIPT_WORD_LABEL",
    "entity_data": {"image_id": IMAGE, "receipt_id": 1, "line_id": 1, "word_id": 1, "label": "TOTAL"},
    "changes": {},
    "event_name": "MODIFY",
    "timestamp": "2026-01-01T00:00:00+00:00",
    "stream_record_id": "e1",
    "aws_region": REGION,
}


def record(body: str, message_id: str, collection: str = "words") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "body": body,
        "messageAttributes": {"collection": {"stringValue": collection, "dataType": "String"}},
    }


def label_record(message_id: str, word_id: int) -> dict[str, Any]:
    data = {**LABEL_BODY["entity_data"], "word_id": word_id}
    return record(json.dumps({**LABEL_BODY, "entity_data": data}), message_id)


def with_neighbours(poison: dict[str, Any]) -> list[dict[str, Any]]:
    """One poison and three label updates, the batch of the issue's report."""
    return [label_record("good-1", 1), poison, label_record("good-2", 2), label_record("good-3", 3)]


HOSTILE_BODIES = {
    "deep-array": ("[" * 100_000 + "]" * 100_000, "nests arrays or objects deeper"),
    "deep-in-entity-data": (
        json.dumps(LABEL_BODY)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "nests arrays or objects deeper",
    ),
    "huge-int": ("1" * 5000, "the body is JSON this decoder refuses"),
    "huge-receipt-id": (
        json.dumps(LABEL_BODY).replace('"receipt_id": 1', '"receipt_id": ' + "9" * 5000),
        "the body is JSON this decoder refuses",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_a_body_the_decoder_cannot_read_fails_alone_with_a_reason(name: str) -> None:
    body, reason = HOSTILE_BODIES[name]
    messages, failures = parse_sqs_records(with_neighbours(record(body, "poison")))
    assert [message.message_id for message in messages] == ["good-1", "good-2", "good-3"]
    assert [failure.message_id for failure in failures] == ["poison"]
    assert reason in failures[0].reason


@pytest.mark.parametrize(
    ("entity_data", "entity_type"),
    [
        ({"image_id": IMAGE, "receipt_id": 100_000, "run_id": "run-1"}, "COMPACTION_RUN"),
        ({"image_id": IMAGE, "receipt_id": 0, "run_id": "run-1"}, "COMPACTION_RUN"),
        ({**LABEL_BODY["entity_data"], "line_id": 100_000}, "RECEIPT_WORD_LABEL"),
        ({**LABEL_BODY["entity_data"], "word_id": 123_456_789}, "RECEIPT_WORD_LABEL"),
    ],
)
def test_ids_beyond_the_entities_bounds_are_refused_when_the_message_is_read(
    entity_data: dict[str, Any], entity_type: str
) -> None:
    body = json.dumps({**LABEL_BODY, "entity_type": entity_type, "entity_data": entity_data})
    messages, failures = parse_sqs_records(with_neighbours(record(body, "poison")))
    assert [message.message_id for message in messages] == ["good-1", "good-2", "good-3"]
    assert [failure.message_id for failure in failures] == ["poison"]
    assert f"is not a {entity_type} key" in failures[0].reason


def test_a_run_key_no_entity_accepts_fails_only_its_own_message_in_the_compactor(world: World) -> None:
    """The compactor's own boundary, for a message that reaches it without the inbox (a caller's bug)."""
    world.seed(IMAGE, 1, [["TOTAL"]])
    label = ReceiptWordLabel(
        image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label="TOTAL", validation_status="VALID"
    )
    (good,) = world.change("INSERT", new=label)
    run = StreamMessage(
        entity_type="COMPACTION_RUN",
        entity_data={"image_id": IMAGE, "receipt_id": 100_000, "run_id": "run-1"},
        changes={},
        event_name="INSERT",
        timestamp="2026-01-01T00:00:00+00:00",
        stream_record_id="e2",
        aws_region=REGION,
    )
    bad = CompactionMessage("bad-run", "words", run, CompactionRun, dict(run.entity_data))
    result = world.compact([bad, good], "words")
    outcomes = {outcome.message_id: outcome for outcome in result.outcomes}
    assert outcomes["bad-run"].status == "failed"
    assert "receipt_id" in outcomes["bad-run"].reason
    assert outcomes[good.message_id].status == "applied"
    assert world.metadata("words", word_embedding_id(IMAGE, 1, 1, 1))["valid_labels"] == ["TOTAL"]
