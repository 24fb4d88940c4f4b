"""Reading one DynamoDB stream record into typed old/new entities.

Two shapes arrive here and differ only in details we do not use: a record of a Lambda DynamoDB-stream
event (``eventSourceARN``, epoch-seconds timestamps) and a record returned by ``dynamodbstreams.get_records``
(``datetime`` timestamps). Both carry ``eventID``, ``eventName``, ``awsRegion`` and a ``dynamodb`` member with
``Keys``, ``NewImage``, ``OldImage`` and ``SequenceNumber`` in DynamoDB JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from receipt_compaction.entities import (
    Entity,
    EntityError,
    EventName,
    MessageFields,
    entity_class_for_key,
    unrecognised_key,
)
from receipt_compaction.entities.base import describe_validation_error
from receipt_compaction.keys import KEY_CACHE_SIZE, KeyValue, image_id_from_pk, match_sort_key

__all__ = [
    "IgnoredRecord",
    "ParsedRecord",
    "StreamChange",
    "StreamRecord",
    "StreamRecordError",
    "parse_record",
]

AttributeMap = dict[str, dict[str, Any]]
Image = dict[str, Any]
"""An image's attributes are checked when the entity is decoded (each bad one named there), not here."""

_IMAGES_NEEDED: dict[str, tuple[str, ...]] = {
    "INSERT": ("NewImage",),
    "MODIFY": ("OldImage", "NewImage"),
    "REMOVE": ("OldImage",),
}


class StreamRecordError(ValueError):
    """A record that can never be processed, however often it is retried."""


class _StreamChangeModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    keys: AttributeMap = Field(alias="Keys")
    new_image: Image | None = Field(default=None, alias="NewImage")
    old_image: Image | None = Field(default=None, alias="OldImage")
    sequence_number: str = Field(alias="SequenceNumber", min_length=1)


class _StreamRecordModel(BaseModel):
    """The shape of a stream record, for records the quick check does not accept: it names each problem."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    event_id: str = Field(alias="eventID", min_length=1)
    event_name: EventName = Field(alias="eventName")
    aws_region: str = Field(default="unknown", alias="awsRegion")
    change: _StreamChangeModel = Field(alias="dynamodb")


@dataclass(frozen=True, slots=True)
class StreamChange:
    """The ``dynamodb`` member of a stream record."""

    keys: AttributeMap
    new_image: Image | None
    old_image: Image | None
    sequence_number: str


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """The fields of a stream record the pipeline uses, checked (``read_stream_record``)."""

    event_id: str
    event_name: EventName
    aws_region: str
    change: StreamChange

    @property
    def sequence_number(self) -> str:
        return self.change.sequence_number

    def key_strings(self) -> tuple[str, str]:
        """PK and SK as strings, or a StreamRecordError saying what the Keys hold instead."""
        keys = self.change.keys
        pk, sk = _string_attribute(keys.get("PK")), _string_attribute(keys.get("SK"))
        if pk is None or sk is None:
            raise StreamRecordError(f"Keys must hold PK and SK as S attributes, got {self.change.keys!r}")
        return pk, sk


@dataclass(frozen=True)
class ParsedRecord:
    """A record about a known entity, with its images decoded (None where the event has none) as far as its
    messages need: keys and ``CHROMA_FIELDS`` (``MessageFields``), or whole for an entity whose messages
    read more (``MESSAGES_READ_EVERY_FIELD``). Nothing else of an image is read."""

    record: StreamRecord
    entity_class: type[Entity]
    old: Entity | MessageFields | None
    new: Entity | MessageFields | None


@dataclass(frozen=True)
class IgnoredRecord:
    """A well-formed record that the pipeline has no use for (a lock item, an unknown entity type)."""

    record: StreamRecord
    reason: str
    unrecognised: bool = False
    """The key has an entity's segments but values it refuses: meant for the pipeline, and lost to it."""


def parse_record(raw: object) -> ParsedRecord | IgnoredRecord:
    """Validate one record and decode its images; raises StreamRecordError when it can never succeed."""
    record = _read_record(raw)
    pk, sk = record.key_strings()
    entity_class, key_values = _recognise_key(pk, sk)
    if entity_class is None or key_values is None:
        return _ignored(record, pk, sk)
    change, event_name = record.change, record.event_name
    old_image, new_image = change.old_image, change.new_image
    if (old_image is None and event_name != "INSERT") or (new_image is None and event_name != "REMOVE"):
        images = {"OldImage": old_image, "NewImage": new_image}
        missing = [name for name in _IMAGES_NEEDED[event_name] if images[name] is None]
        raise StreamRecordError(
            f"a {event_name} record needs {' and '.join(missing)}: "
            "set the table's stream view type to NEW_AND_OLD_IMAGES"
        )
    old = _decode_image(entity_class, "OldImage", old_image, change.keys, key_values)
    new = _decode_image(entity_class, "NewImage", new_image, change.keys, key_values)
    return ParsedRecord(record, entity_class, old, new)


def _ignored(record: StreamRecord, pk: str, sk: str) -> IgnoredRecord:
    if image_id_from_pk(pk) is None:
        return IgnoredRecord(record, f"PK {pk!r} is not an IMAGE#<uuid> item")
    near_miss = unrecognised_key(pk, sk)
    if near_miss is not None:
        return IgnoredRecord(record, f"PK {pk!r}: {near_miss}", unrecognised=True)
    return IgnoredRecord(record, f"SK {sk!r} is no known entity's key")


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _recognise_key(pk: str, sk: str) -> tuple[type[Entity] | None, dict[str, KeyValue] | None]:
    """The entity class of a key and its values (``image_id`` and the sort-key fields), or Nones.

    Cached, like the key parsers under it: a receipt's items change together, so keys repeat within a
    batch. The values are shared by every record of the key and never mutated (``entity_data`` copies)."""
    entity_class = entity_class_for_key(pk, sk)
    if entity_class is None:
        return None, None
    sort_key = cast("Mapping[str, KeyValue]", match_sort_key(entity_class.SORT_KEY, sk))
    return entity_class, {"image_id": cast("str", image_id_from_pk(pk)), **sort_key}


def forget_recognised_keys() -> None:
    """Empty the key caches of the stream stage (a benchmark measuring a fresh process)."""
    _recognise_key.cache_clear()
    image_id_from_pk.cache_clear()
    match_sort_key.cache_clear()


_EVENT_NAMES = frozenset(_IMAGES_NEEDED)


def _read_record(raw: object) -> StreamRecord:
    """The record, checked by hand when every field already has the type wanted (the common case: a
    pydantic validation of the record cost as much as a bare decode of both its images), else by the
    model, which names each problem."""
    quick = _read_well_formed(raw)
    if quick is not None:
        return quick
    try:
        model = _StreamRecordModel.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(describe_validation_error(error))
        raise StreamRecordError(f"not a DynamoDB stream record: {problems}") from None
    change = model.change
    return StreamRecord(
        event_id=model.event_id,
        event_name=model.event_name,
        aws_region=model.aws_region,
        change=StreamChange(change.keys, change.new_image, change.old_image, change.sequence_number),
    )


def _read_well_formed(raw: object) -> StreamRecord | None:
    """The record when its fields are exactly what the model would accept unchanged; else None."""
    if type(raw) is not dict:
        return None
    event_id, event_name = raw.get("eventID"), raw.get("eventName")
    region, change = raw.get("awsRegion", "unknown"), raw.get("dynamodb")
    if not (
        type(event_id) is str
        and event_id
        and type(event_name) is str
        and event_name in _EVENT_NAMES
        and type(region) is str
        and type(change) is dict
    ):
        return None
    keys, sequence = change.get("Keys"), change.get("SequenceNumber")
    old, new = change.get("OldImage"), change.get("NewImage")
    if not (
        type(keys) is dict
        and {*map(type, keys)} <= _STR
        and {*map(type, keys.values())} <= _DICT
        and type(sequence) is str
        and sequence
        and _is_image(old)
        and _is_image(new)
    ):
        return None
    return StreamRecord(
        event_id, cast("EventName", event_name), region, StreamChange(keys, new, old, sequence)
    )


def _is_image(image: object) -> bool:
    return image is None or (type(image) is dict and {*map(type, image)} <= _STR)


_STR: frozenset[type] = frozenset({str})
_DICT: frozenset[type] = frozenset({dict})
"""Exact types, compared as sets of ``type`` (C speed: these checks run for every name of every image)."""


def _decode_image(
    entity_class: type[Entity],
    name: str,
    image: Image | None,
    keys: AttributeMap,
    key_values: dict[str, KeyValue],
) -> Entity | MessageFields | None:
    if image is None:
        return None
    try:
        if entity_class.MESSAGES_READ_EVERY_FIELD:
            return entity_class.from_item({**image, **keys})
        return MessageFields.from_image(entity_class, image, keys, key_values)
    except EntityError as error:
        raise StreamRecordError(f"{name}: {error}") from None


def _string_attribute(attribute: object) -> str | None:
    if type(attribute) is dict and len(attribute) == 1 and type(plain := attribute.get("S")) is str:
        return plain  # the common case, without the abstract Mapping check
    if isinstance(attribute, Mapping) and len(attribute) == 1 and isinstance(attribute.get("S"), str):
        value: str = attribute["S"]
        return value
    return None


def event_id_of(raw: object) -> str:
    """The eventID of a raw record for logging, even when the record is malformed."""
    if isinstance(raw, Mapping) and isinstance(raw.get("eventID"), str):
        event_id: str = raw["eventID"]
        return event_id
    return "<no eventID>"
