"""Entities: keyword construction, item round trips (in memory and through DynamoDB), clear errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receipt_compaction.aws import AwsClients
from receipt_compaction.entities import (
    ENTITY_CLASSES,
    CompactionRun,
    Entity,
    EntityError,
    ReceiptLine,
    ReceiptMetadata,
    ReceiptWordLabel,
    entity_from_item,
)
from tests.support.strategies import any_entity, entity_strategy

IMAGE_ID = "0d8bb0f4-3b1e-4c36-9a55-1f8a3a3c6f10"


@given(entity=any_entity)
def test_item_round_trip_in_memory(entity: Entity) -> None:
    item = entity.to_item()
    assert item["PK"] == {"S": entity.pk}
    assert item["SK"] == {"S": entity.sk}
    assert item["TYPE"] == {"S": entity.ENTITY_TYPE}
    # what a Lambda event carries is JSON: the item must survive it unchanged
    assert type(entity).from_item(json.loads(json.dumps(item))) == entity
    assert entity_from_item(item) == entity


@pytest.mark.parametrize("entity_class", ENTITY_CLASSES, ids=lambda cls: cls.__name__)
def test_item_round_trip_through_dynamodb(aws_clients: AwsClients, table: object, entity_class: type) -> None:
    table_name = table.name  # type: ignore[attr-defined]

    @settings(max_examples=25)
    @given(entity=entity_strategy(entity_class))
    def round_trip(entity: Entity) -> None:
        aws_clients.dynamodb.put_item(TableName=table_name, Item=entity.to_item())  # type: ignore[arg-type]
        got = aws_clients.dynamodb.get_item(TableName=table_name, Key=entity.key(), ConsistentRead=True)  # type: ignore[arg-type]
        assert entity_class.from_item(got["Item"]) == entity

    round_trip()


def test_numbers_are_decimal_never_float() -> None:
    line = ReceiptLine(image_id=IMAGE_ID, receipt_id=1, line_id=1, text="TOTAL", confidence=Decimal("0.93"))
    item = line.to_item()
    assert item["confidence"] == {"N": "0.93"}
    assert item["PK"] == {"S": f"IMAGE#{IMAGE_ID}"}
    decoded = ReceiptLine.from_item(item)
    assert isinstance(decoded.confidence, Decimal)


def test_optional_fields_are_left_out_not_written_as_null() -> None:
    item = ReceiptMetadata(image_id=IMAGE_ID, receipt_id=3, merchant_name="Acme", address="").to_item()
    assert set(item) == {"PK", "SK", "TYPE", "merchant_name"}
    assert item["SK"] == {"S": "RECEIPT#00003#METADATA"}


def test_null_attributes_read_as_unset() -> None:
    item = ReceiptMetadata(image_id=IMAGE_ID, receipt_id=3, merchant_name="Acme").to_item()
    item["address"] = {"NULL": True}
    assert ReceiptMetadata.from_item(item).address is None


def test_compaction_run_defaults_its_delta_prefixes() -> None:
    run = CompactionRun(image_id=IMAGE_ID, receipt_id=2, run_id="run-1")
    assert run.lines_delta_prefix == "lines/delta/run-1/"
    assert run.words_delta_prefix == "words/delta/run-1/"
    assert run.entity_data("words")["delta_s3_prefix"] == "words/delta/run-1/"
    assert run.sk == "RECEIPT#00002#COMPACTION_RUN#run-1"


def test_models_are_frozen_and_reject_unknown_fields() -> None:
    label = ReceiptWordLabel(image_id=IMAGE_ID, receipt_id=1, line_id=1, word_id=1, label="TOTAL")
    with pytest.raises(ValueError, match="frozen"):
        label.label = "TAX"  # type: ignore[misc]
    with pytest.raises(ValueError, match="lable"):
        ReceiptWordLabel(image_id=IMAGE_ID, receipt_id=1, line_id=1, word_id=1, label="TOTAL", lable="x")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"PK": {"S": "IMAGE#nope"}, "SK": {"S": "RECEIPT#00001#LINE#00001"}, "text": {"S": "x"}},
            "RECEIPT_LINE item PK='IMAGE#nope' SK='RECEIPT#00001#LINE#00001': "
            "field 'PK': expected IMAGE#<uuid>",
        ),
        (
            {"PK": {"S": f"IMAGE#{IMAGE_ID}"}, "SK": {"S": "RECEIPT#00001#LINE#1"}, "text": {"S": "x"}},
            "field 'SK': expected RECEIPT#nnnnn#LINE#nnnnn",
        ),
        (
            {"PK": {"S": f"IMAGE#{IMAGE_ID}"}, "SK": {"S": "RECEIPT#00001#LINE#00001"}},
            "field 'text': Field required",
        ),
        (
            {"PK": {"S": f"IMAGE#{IMAGE_ID}"}, "SK": {"S": "RECEIPT#00001#LINE#00001"}, "text": {"N": "5"}},
            "field 'text': Input should be a valid string (got Decimal('5'))",
        ),
        (
            {
                "PK": {"S": f"IMAGE#{IMAGE_ID}"},
                "SK": {"S": "RECEIPT#00001#LINE#00001"},
                "text": {"S": "x"},
                "confidence": {"N": "not-a-number"},
            },
            "field 'confidence': Input should be a finite number",  # boto3 decodes a bad N as NaN
        ),
        (
            {
                "PK": {"S": f"IMAGE#{IMAGE_ID}"},
                "SK": {"S": "RECEIPT#00001#LINE#00001"},
                "text": {"BOGUS": "x"},
            },
            "field 'text': not a DynamoDB attribute value",
        ),
        (
            {
                "PK": {"S": f"IMAGE#{IMAGE_ID}"},
                "SK": {"S": "RECEIPT#00001#LINE#00001"},
                "text": {"S": "x"},
                "TYPE": {"S": "RECEIPT_WORD"},
            },
            "field 'TYPE': is 'RECEIPT_WORD', but the key is a RECEIPT_LINE key",
        ),
    ],
)
def test_malformed_items_name_the_key_and_the_field(item: dict[str, dict[str, str]], expected: str) -> None:
    with pytest.raises(EntityError) as caught:
        ReceiptLine.from_item(item)
    assert expected in str(caught.value)


def test_invalid_label_status_names_the_field_and_allowed_values() -> None:
    item = ReceiptWordLabel(image_id=IMAGE_ID, receipt_id=1, line_id=2, word_id=3, label="TOTAL").to_item()
    item["validation_status"] = {"S": "MAYBE"}
    with pytest.raises(EntityError, match=r"field 'validation_status': Input should be 'NONE', 'PENDING'"):
        ReceiptWordLabel.from_item(item)


@given(value=st.floats(min_value=0, max_value=1).filter(lambda v: v == 0 or v > 1e-100))
def test_floats_given_at_construction_are_stored_as_decimal(value: float) -> None:
    line = ReceiptLine(image_id=IMAGE_ID, receipt_id=1, line_id=1, text="x", confidence=value)  # type: ignore[arg-type]
    assert isinstance(line.confidence, Decimal)
    assert Decimal(line.to_item()["confidence"]["N"]) == line.confidence


@pytest.mark.parametrize("value", [Decimal("1.5"), Decimal(-1), Decimal("0." + "1" * 40), Decimal("1E-200")])
def test_numbers_dynamodb_cannot_hold_are_rejected_at_construction(value: Decimal) -> None:
    with pytest.raises(ValueError, match="confidence"):
        ReceiptLine(image_id=IMAGE_ID, receipt_id=1, line_id=1, text="x", confidence=value)
