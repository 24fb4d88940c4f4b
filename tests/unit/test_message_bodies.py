"""The stream stage builds message bodies from plain values (no pydantic model per record); the contract's
models stay the schema. These properties hold the two together: every body the fast way builds validates
as a ``StreamMessage`` and is byte for byte the JSON the models give for the same record, decoded whole."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receipt_compaction.contract import FieldChange, QueueMessage, StreamMessage, message_body
from receipt_compaction.entities import ENTITY_CLASSES, Entity, EventName
from receipt_compaction.entities.base import forget_checked_values
from receipt_compaction.stream import ParsedRecord, build_messages, parse_record
from tests.support.records import stream_record
from tests.support.strategies import entity_strategy

TIMESTAMP = "2026-01-01T00:00:00+00:00"


@st.composite
def changes_of_one_entity(draw: st.DrawFn) -> tuple[EventName, Entity | None, Entity | None]:
    """An event on one key: the new side keeps the old side's key, every other field drawn afresh, or
    the same entity (a MODIFY that changes nothing)."""
    entity_class = draw(st.sampled_from(ENTITY_CLASSES))
    old = draw(entity_strategy(entity_class))
    event: EventName = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
    if event == "INSERT":
        return event, None, old
    if event == "REMOVE":
        return event, old, None
    other = draw(st.just(old) | entity_strategy(entity_class))
    new = other.model_copy(update=old.key_values())
    return event, old, type(old).model_validate(new.model_dump())


def model_messages(
    record: dict[str, Any], event: EventName, old: Entity | None, new: Entity | None
) -> list[QueueMessage]:
    """The messages as the models build them, from the entities decoded whole."""
    entity = new or old
    assert entity is not None
    entity_class = type(entity)
    decoded = {
        side: entity_class.from_item({**image, **record["dynamodb"]["Keys"]})
        for side in ("OldImage", "NewImage")
        if (image := record["dynamodb"].get(side)) is not None
    }
    changes = whole_entity_changes(entity_class, decoded.get("OldImage"), decoded.get("NewImage"))
    if event not in entity_class.DIRTY_ON or (event == "MODIFY" and not changes):
        return []
    whole = decoded.get("NewImage") or decoded["OldImage"]
    return [
        QueueMessage(
            collection=collection,
            message=StreamMessage(
                entity_type=entity_class.ENTITY_TYPE,
                entity_data=whole.entity_data(collection),
                changes=changes,
                event_name=event,
                timestamp=TIMESTAMP,
                stream_record_id=record["eventID"],
                aws_region=record["awsRegion"],
            ),
        )
        for collection in entity_class.COLLECTIONS
    ]


def whole_entity_changes(
    entity_class: type[Entity], old: Entity | None, new: Entity | None
) -> dict[str, FieldChange]:
    """The changed ``CHROMA_FIELDS`` read off whole entities (not through the stage's change detection)."""
    changes = {}
    for name in entity_class.CHROMA_FIELDS:
        before = None if old is None else getattr(old, name)
        after = None if new is None else getattr(new, name)
        if before != after:
            changes[name] = FieldChange(old=before, new=after)
    return changes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(change=changes_of_one_entity(), memo_warm=st.booleans())
def test_fast_bodies_are_the_models_json(
    change: tuple[EventName, Entity | None, Entity | None], *, memo_warm: bool
) -> None:
    event, old, new = change
    record = stream_record(event, old=old, new=new)
    if not memo_warm:
        forget_checked_values()
    parsed = parse_record(record)
    assert isinstance(parsed, ParsedRecord)
    fast = build_messages(parsed, timestamp=TIMESTAMP)
    expected = model_messages(record, event, old, new)
    assert [message.collection for message in fast] == [message.collection for message in expected]
    for built, model in zip(fast, expected, strict=True):
        assert StreamMessage.model_validate_json(built.body()) == model.message
        assert built.body() == model.message.body()
        assert built.message == model.message
        assert built.attributes() == model.attributes()
        assert built.group_id() == model.group_id()
        assert built.deduplication_id() == model.deduplication_id()


@given(text=st.text(max_size=40))
def test_any_text_is_written_as_pydantic_writes_it(text: str) -> None:
    """Escapes (quotes, backslashes, control characters) and non-ASCII text, in every string slot."""
    model = StreamMessage(
        entity_type=text,
        entity_data={"image_id": text, "receipt_id": 1},
        changes={text: {"old": text, "new": None}},  # type: ignore[dict-item]
        event_name="MODIFY",
        timestamp=text,
        stream_record_id=text,
        aws_region=text,
    )
    fields = {
        "source": "dynamodb_stream",
        "entity_type": text,
        "entity_data": {"image_id": text, "receipt_id": 1},
        "changes": {text: {"old": text, "new": None}},
        "event_name": "MODIFY",
        "timestamp": text,
        "stream_record_id": text,
        "aws_region": text,
    }
    assert message_body(fields) == model.body()
