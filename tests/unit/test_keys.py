"""The key parser recognises entities by structure, never by substring."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipt_compaction.entities import (
    ENTITY_CLASSES,
    CompactionRun,
    Receipt,
    ReceiptLine,
    ReceiptMetadata,
    ReceiptWord,
    ReceiptWordLabel,
    entity_class_for_key,
)
from receipt_compaction.keys import is_canonical_uuid
from tests.support.strategies import entity_strategy

PK = "IMAGE#0d8bb0f4-3b1e-4c36-9a55-1f8a3a3c6f10"


@pytest.mark.parametrize(
    ("sk", "expected"),
    [
        ("RECEIPT#00001", Receipt),
        ("RECEIPT#00001#METADATA", ReceiptMetadata),
        ("RECEIPT#00001#LINE#00002", ReceiptLine),
        ("RECEIPT#00001#LINE#00002#WORD#00003", ReceiptWord),
        ("RECEIPT#00001#LINE#00002#WORD#00003#LABEL#TOTAL", ReceiptWordLabel),
        # upstream's substring match reads these two as a place record
        ("RECEIPT#00001#LINE#00002#WORD#00003#LABEL#PLACE_OF_BUSINESS", ReceiptWordLabel),
        ("RECEIPT#00001#LINE#00002#WORD#00003#LABEL#PLACE", ReceiptWordLabel),
        ("RECEIPT#00001#COMPACTION_RUN#0c2f5d2e-run", CompactionRun),
        ("RECEIPT#00001#COMPACTION_RUN#LABEL", CompactionRun),
    ],
)
def test_known_keys_are_recognised(sk: str, expected: type) -> None:
    assert entity_class_for_key(PK, sk) is expected


@pytest.mark.parametrize(
    "sk",
    [
        "",
        "RECEIPT",
        "RECEIPT#",
        "RECEIPT#1",  # not zero-padded
        "RECEIPT#00000",  # receipt ids start at 1
        "RECEIPT#000001",  # padded beyond the canonical width
        "RECEIPT#-0001",
        "RECEIPT#0000a",
        "RECEIPT#\uff10\uff10\uff10\uff10\uff11",  # full-width digits
        "receipt#00001",
        "RECEIPT#00001#metadata",
        "RECEIPT#00001#PLACE",
        "RECEIPT#00001#UNKNOWN",
        "RECEIPT#00001#METADATA#EXTRA",
        "RECEIPT#00001#LINE",
        "RECEIPT#00001#LINE#00002#",
        "RECEIPT#00001#LINE#00002#WORD",
        "RECEIPT#00001#LINE#00002#WORD#00003#LETTER#00001",  # letters are not words
        "RECEIPT#00001#LINE#00002#WORD#00003#LABEL",
        "RECEIPT#00001#LINE#00002#WORD#00003#LABEL#",
        "RECEIPT#00001#LINE#00002#WORD#00003#LABEL#total",
        "RECEIPT#00001#LINE#00002#WORD#00003#LABEL#TOTAL#X",
        "RECEIPT#00001#WORD#00003",
        "RECEIPT#00001#COMPACTION_RUN#",
        "RECEIPT#00001#COMPACTION_RUN#../x",
        "ANYTHING#PLACE",
        "ANYTHING#LABEL#TEST",
        "ANYTHING#COMPACTION_RUN#test",
        "LINE#00001#RECEIPT#00001",
        "USER#12345",
        "IMAGE#abc123",
    ],
)
def test_adversarial_sort_keys_are_nothing(sk: str) -> None:
    assert entity_class_for_key(PK, sk) is None


@pytest.mark.parametrize(
    "pk",
    [
        "LOCK#words",
        "IMAGE#",
        "IMAGE#not-a-uuid",
        "IMAGE#0D8BB0F4-3B1E-4C36-9A55-1F8A3A3C6F10",  # upper case is not the canonical spelling
        "IMAGE#0d8bb0f43b1e4c369a551f8a3a3c6f10",  # no hyphens
        "image#0d8bb0f4-3b1e-4c36-9a55-1f8a3a3c6f10",
        "IMAGE#0d8bb0f4-3b1e-4c36-9a55-1f8a3a3c6f10#RECEIPT#00001",
    ],
)
def test_partition_keys_other_than_image_uuid_are_nothing(pk: str) -> None:
    assert entity_class_for_key(pk, "RECEIPT#00001") is None


@given(entity=st.one_of([entity_strategy(cls) for cls in ENTITY_CLASSES]))
def test_every_rendered_key_parses_back_to_its_own_class_only(entity: object) -> None:
    assert entity_class_for_key(entity.pk, entity.sk) is type(entity)  # type: ignore[attr-defined]


@given(sk=st.text(alphabet="RECIPTLNWODABMA#0123456789_", max_size=60))
def test_random_keys_never_crash_and_only_match_canonical_shapes(sk: str) -> None:
    entity_class = entity_class_for_key(PK, sk)
    if entity_class is not None:
        entity = entity_class.from_item({"PK": {"S": PK}, "SK": {"S": sk}, **_required(entity_class)})
        assert entity.sk == sk


def _required(entity_class: type) -> dict[str, dict[str, str]]:
    return {"text": {"S": "x"}} if entity_class in (ReceiptLine, ReceiptWord) else {}


def _uuid_spelling_round_trips(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


@given(
    st.one_of(
        st.uuids().map(str),
        st.uuids().map(lambda u: str(u).upper()),
        st.uuids().map(lambda u: u.hex),
        st.uuids().map(lambda u: "{" + str(u) + "}"),
        st.uuids().map(lambda u: str(u) + "\n"),
        st.text(alphabet="0123456789abcdefABCDEF-{}", max_size=40),
    )
)
def test_canonical_uuid_is_exactly_what_uuid_spells_back(value: str) -> None:
    assert is_canonical_uuid(value) == _uuid_spelling_round_trips(value)
