"""Change detection and message routing: which records produce which messages, for which collections."""

from __future__ import annotations

import json
from typing import Any

import pytest

from receipt_compaction.contract import FieldChange
from receipt_compaction.entities import (
    CompactionRun,
    Entity,
    Receipt,
    ReceiptLine,
    ReceiptMetadata,
    ReceiptWord,
    ReceiptWordLabel,
)
from receipt_compaction.stream import ParsedRecord, build_messages, parse_record, relevant_changes
from tests.support.records import REGION, stream_record

IMAGE_ID = "0d8bb0f4-3b1e-4c36-9a55-1f8a3a3c6f10"
KEY = {"image_id": IMAGE_ID, "receipt_id": 7}
WORD_KEY = {**KEY, "line_id": 2, "word_id": 3}

METADATA = ReceiptMetadata(**KEY, merchant_name="Acme", place_id="p1")
LABEL = ReceiptWordLabel(**WORD_KEY, label="TOTAL", validation_status="PENDING", reasoning="looks like a sum")
RUN = CompactionRun(**KEY, run_id="run-1")


def messages_for(event_name: str, *, old: Entity | None = None, new: Entity | None = None) -> list[Any]:
    parsed = parse_record(stream_record(event_name, old=old, new=new))
    assert isinstance(parsed, ParsedRecord)
    return list(build_messages(parsed, timestamp="2026-01-01T00:00:00+00:00"))


def routes(event_name: str, *, old: Entity | None = None, new: Entity | None = None) -> list[str]:
    return [message.collection for message in messages_for(event_name, old=old, new=new)]


@pytest.mark.parametrize(
    ("event_name", "old", "new", "collections"),
    [
        ("INSERT", None, METADATA, ["lines", "words"]),
        ("MODIFY", METADATA, METADATA.model_copy(update={"merchant_name": "Acme Co"}), ["lines", "words"]),
        ("MODIFY", METADATA, METADATA, []),
        ("REMOVE", METADATA, None, ["lines", "words"]),
        ("INSERT", None, LABEL, ["words"]),  # upstream drops label INSERTs
        ("MODIFY", LABEL, LABEL.model_copy(update={"validation_status": "VALID"}), ["words"]),
        ("MODIFY", LABEL, LABEL.model_copy(update={"timestamp_added": "2026-01-02"}), []),
        ("REMOVE", LABEL, None, ["words"]),
        ("INSERT", None, RUN, ["lines", "words"]),
        ("MODIFY", RUN, RUN.model_copy(update={"lines_state": "COMPLETED"}), []),
        ("REMOVE", RUN, None, []),
        ("INSERT", None, Receipt(**KEY), []),
        ("MODIFY", Receipt(**KEY), Receipt(**KEY, width=10), []),
        ("REMOVE", Receipt(**KEY), None, ["lines", "words"]),
        ("INSERT", None, ReceiptLine(**KEY, line_id=2, text="TOTAL 3.00"), []),
        ("REMOVE", ReceiptLine(**KEY, line_id=2, text="TOTAL 3.00"), None, ["lines"]),
        ("INSERT", None, ReceiptWord(**WORD_KEY, text="3.00"), []),
        ("MODIFY", ReceiptWord(**WORD_KEY, text="3.00"), ReceiptWord(**WORD_KEY, text="3.01"), []),
        ("REMOVE", ReceiptWord(**WORD_KEY, text="3.00"), None, ["words"]),
    ],
)
def test_each_event_of_each_entity_routes_to_its_collections(
    event_name: str, old: Entity | None, new: Entity | None, collections: list[str]
) -> None:
    assert routes(event_name, old=old, new=new) == collections


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, METADATA, {"merchant_name": (None, "Acme"), "place_id": (None, "p1")}),
        (METADATA, None, {"merchant_name": ("Acme", None), "place_id": ("p1", None)}),
        (METADATA, METADATA.model_copy(update={"merchant_name": "B"}), {"merchant_name": ("Acme", "B")}),
        (METADATA, ReceiptMetadata(**KEY, merchant_name="Acme", place_id="p1", address=""), {}),
        (
            LABEL,
            LABEL.model_copy(update={"validation_status": "INVALID", "reasoning": None}),
            {"validation_status": ("PENDING", "INVALID")},  # reasoning never reaches Chroma
        ),
        (LABEL, LABEL.model_copy(update={"reasoning": "r" * 60_000, "label_proposed_by": "x"}), {}),
    ],
)
def test_change_detection_lists_exactly_the_changed_relevant_fields(
    old: Entity | None, new: Entity | None, expected: dict[str, tuple[Any, Any]]
) -> None:
    """``expected`` maps each changed field to its (old, new) values."""
    changes = relevant_changes(type(old or new), old, new)
    assert changes == {name: FieldChange(old=before, new=after) for name, (before, after) in expected.items()}


def test_message_body_and_attributes_follow_the_contract() -> None:
    new = METADATA.model_copy(update={"merchant_name": "Acme Co"})
    record = stream_record("MODIFY", old=METADATA, new=new)
    parsed = parse_record(record)
    assert isinstance(parsed, ParsedRecord)
    lines, words = build_messages(parsed, timestamp="2026-01-01T00:00:00+00:00")
    body = json.loads(words.message.body())
    assert body == {
        "source": "dynamodb_stream",
        "entity_type": "RECEIPT_METADATA",
        "entity_data": {"image_id": IMAGE_ID, "receipt_id": 7},
        "changes": {"merchant_name": {"old": "Acme", "new": "Acme Co"}},
        "event_name": "MODIFY",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "stream_record_id": record["eventID"],
        "aws_region": REGION,
    }
    assert json.loads(lines.message.body()) == body
    assert {name: value["StringValue"] for name, value in words.attributes().items()} == {
        "source": "dynamodb_stream",
        "collection": "words",
        "entity_type": "RECEIPT_METADATA",
        "event_name": "MODIFY",
    }


def test_label_message_carries_the_full_word_key() -> None:
    (message,) = messages_for("REMOVE", old=LABEL)
    assert message.message.entity_data == {**WORD_KEY, "label": "TOTAL"}
    assert message.message.changes["label"] == FieldChange(old="TOTAL", new=None)


def test_compaction_run_messages_name_their_own_delta_prefix() -> None:
    lines, words = messages_for("INSERT", new=RUN)
    assert lines.message.entity_data["delta_s3_prefix"] == "lines/delta/run-1/"
    assert words.message.entity_data["delta_s3_prefix"] == "words/delta/run-1/"
    assert words.message.entity_data["run_id"] == "run-1"
    assert words.message.changes == {}
