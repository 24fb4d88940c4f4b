"""Issue 13, finding 1: the key parser's bounds are the entities' bounds.

Whatever ``entity_class_for_key`` recognises (and the entity's own ``match_sort_key`` reads), the entity
accepts: a key the parser lets through can never fail model validation further on (receipt 100000 parsed,
then failed ``CompactionRun(...)`` outside the compactor's per-message boundary).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from receipt_compaction.entities import ENTITY_CLASSES, Entity, entity_class_for_key
from receipt_compaction.entities.labels import LABEL_PATTERN
from receipt_compaction.entities.runs import RUN_ID_PATTERN
from receipt_compaction.keys import match_sort_key

PK = "IMAGE#0d8bb0f4-3b1e-4c36-9a55-1f8a3a3c6f10"
IMAGE_ID = PK.removeprefix("IMAGE#")
REQUIRED: dict[str, Any] = {"text": "x"}
"""The non-key fields some entities require (lines and words carry their text)."""

# Tokens near and beyond every bound: digit strings of 1 to 7 digits (zero, 99999, 100000, leading zeros),
# names that match the patterns and names that almost do.
digits = st.integers(0, 10**7).flatmap(lambda n: st.sampled_from([str(n), f"{n:05d}", f"{n:07d}"]))
names = (
    st.from_regex(LABEL_PATTERN, fullmatch=True)
    | st.from_regex(RUN_ID_PATTERN, fullmatch=True)
    | st.text(alphabet="AZaz09_-.:/ ", min_size=0, max_size=140)
    | st.sampled_from(["", "-run", "A" * 64, "A" * 65, "r" * 128, "r" * 129, "2026-01-01T00:00:00Z"])
)
segment_names = st.sampled_from(["RECEIPT", "LINE", "WORD", "LABEL", "METADATA", "COMPACTION_RUN"])
token = digits | names | segment_names
sort_keys = st.lists(token, min_size=1, max_size=8).map("#".join)
shaped_keys = st.one_of(
    st.tuples(digits).map(lambda t: f"RECEIPT#{t[0]}"),
    st.tuples(digits).map(lambda t: f"RECEIPT#{t[0]}#METADATA"),
    st.tuples(digits, digits).map(lambda t: f"RECEIPT#{t[0]}#LINE#{t[1]}"),
    st.tuples(digits, digits, digits).map(lambda t: "RECEIPT#{}#LINE#{}#WORD#{}".format(*t)),
    st.tuples(digits, digits, digits, names).map(lambda t: "RECEIPT#{}#LINE#{}#WORD#{}#LABEL#{}".format(*t)),
    st.tuples(digits, names).map(lambda t: "RECEIPT#{}#COMPACTION_RUN#{}".format(*t)),
)


def entity_accepts(entity_class: type[Entity], values: dict[str, Any]) -> Entity:
    required = {name: value for name, value in REQUIRED.items() if name in entity_class.model_fields}
    return entity_class.model_validate({"image_id": IMAGE_ID, **values, **required})


@given(sk=shaped_keys | sort_keys)
@example(sk="RECEIPT#100000#COMPACTION_RUN#run-1")
@example(sk="RECEIPT#00000#COMPACTION_RUN#run-1")
@example(sk="RECEIPT#99999#LINE#99999#WORD#99999#LABEL#" + "A" * 64)
@example(sk="RECEIPT#00001#LINE#0000001")
def test_whatever_the_key_parser_accepts_the_entity_accepts(sk: str) -> None:
    for entity_class in ENTITY_CLASSES:
        values = match_sort_key(entity_class.SORT_KEY, sk)
        if values is None:
            continue
        entity = entity_accepts(entity_class, dict(values))
        assert entity.sk == sk  # and it renders the very key it was read from
        assert entity_class_for_key(PK, sk) is entity_class


@pytest.mark.parametrize(
    "sk",
    [
        "RECEIPT#100000",
        "RECEIPT#00000",
        "RECEIPT#00001#LINE#100000",
        "RECEIPT#00001#LINE#00001#WORD#123456",
        "RECEIPT#100000#COMPACTION_RUN#run-1",
        "RECEIPT#0001#METADATA",
    ],
)
def test_ids_outside_five_digits_or_below_the_minimum_are_no_key(sk: str) -> None:
    assert entity_class_for_key(PK, sk) is None
