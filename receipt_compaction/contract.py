"""The SQS message contract between the stream stage and the compactor (DESIGN §4).

The body is the JSON of ``StreamMessage``; the collection travels as a message attribute, next to the
entity type and event name, so a consumer can route without parsing the body.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from receipt_compaction.chroma_ids import CollectionName
from receipt_compaction.entities.base import EventName

__all__ = [
    "ChangeValue",
    "FieldChange",
    "OutgoingMessage",
    "QueueMessage",
    "SendableMessage",
    "StreamMessage",
    "message_body",
]

ChangeValue = str | int | None
StrictKeyValue = StrictInt | StrictStr
"""A key field in ``entity_data``: a JSON integer or string exactly, never ``true`` read as 1 or ``1.0``."""


class FieldChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    old: ChangeValue
    new: ChangeValue


class StreamMessage(BaseModel):
    """One "this is dirty" notice about one entity; the compactor reads the current state itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Literal["dynamodb_stream"] = "dynamodb_stream"
    entity_type: str
    entity_data: dict[str, StrictKeyValue]
    changes: dict[str, FieldChange]
    event_name: EventName
    timestamp: str
    stream_record_id: str
    aws_region: str

    def body(self) -> str:
        return self.model_dump_json()


class QueueMessage(BaseModel):
    """A ``StreamMessage`` addressed to one collection's queue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    collection: CollectionName
    message: StreamMessage

    def body(self) -> str:
        return self.message.body()

    def attributes(self) -> dict[str, dict[str, Any]]:
        """SQS message attributes (all ``String``)."""
        return _attributes(self.collection, self.message.entity_type, self.message.event_name)

    def group_id(self) -> str:
        """FIFO ordering scope: one receipt (all of its messages stay in order)."""
        return _group_id(self.message.entity_data)

    def deduplication_id(self) -> str:
        """FIFO deduplication: the same stream record sent to the same collection is one message."""
        return _deduplication_id(self.message.stream_record_id, self.collection)


class OutgoingMessage:
    """A ``QueueMessage`` as the stream stage builds it: the body from plain values (``message_body``),
    no pydantic model per record. Why: building ``FieldChange``, ``StreamMessage`` and ``QueueMessage``
    models and dumping them cost the stage more than a bare decode of the record's images. The models stay
    the schema: a property test holds that these bodies validate as ``StreamMessage`` and equal its JSON,
    and ``message`` builds the model when someone wants it (tests, tools)."""

    __slots__ = ("_body", "_fields", "collection")

    def __init__(self, collection: CollectionName, fields: dict[str, Any], body: str) -> None:
        self.collection = collection
        self._fields = fields
        self._body = body

    @property
    def message(self) -> StreamMessage:
        return StreamMessage.model_validate(self._fields)

    def body(self) -> str:
        return self._body

    def attributes(self) -> dict[str, dict[str, Any]]:
        fields = self._fields
        return _attributes(self.collection, fields["entity_type"], fields["event_name"])

    def group_id(self) -> str:
        return _group_id(self._fields["entity_data"])

    def deduplication_id(self) -> str:
        return _deduplication_id(self._fields["stream_record_id"], self.collection)


SendableMessage: TypeAlias = QueueMessage | OutgoingMessage
"""What the publisher sends: anything with a collection, a body, attributes and FIFO ids."""


def message_body(fields: dict[str, Any]) -> str:
    """The JSON ``StreamMessage.body`` gives for a model of ``fields`` (the model's field order, values
    already plain: ``changes`` as ``{"old": ..., "new": ...}`` dicts), compact and UTF-8 as pydantic
    writes it."""
    return _encode(fields)


def _refuse(value: object) -> Any:
    raise TypeError(f"a message body holds only JSON values, got {type(value).__name__}")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_refuse)
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
# The C encoder itself when the interpreter has it: ``JSONEncoder.encode`` builds one per call, which cost
# as much as the encoding of a whole body. Same arguments as ``JSONEncoder.iterencode`` passes it.
_SORT_KEYS = _SKIP_KEYS = _ALLOW_NAN = False
_ENCODE_PARTS = (
    _C_ENCODER(
        None, _refuse, json.encoder.encode_basestring, None, ":", ",", _SORT_KEYS, _SKIP_KEYS, _ALLOW_NAN
    )
    if _C_ENCODER is not None
    else None
)


def _encode(fields: dict[str, Any]) -> str:
    if _ENCODE_PARTS is None:
        return _ENCODER.encode(fields)
    return "".join(_ENCODE_PARTS(fields, 0))


_SOURCE = "dynamodb_stream"


def _attributes(collection: str, entity_type: str, event_name: str) -> dict[str, dict[str, Any]]:
    return {
        "source": {"DataType": "String", "StringValue": _SOURCE},
        "collection": {"DataType": "String", "StringValue": collection},
        "entity_type": {"DataType": "String", "StringValue": entity_type},
        "event_name": {"DataType": "String", "StringValue": event_name},
    }


def _group_id(entity_data: dict[str, Any]) -> str:
    return f"IMAGE#{entity_data['image_id']}#RECEIPT#{int(entity_data['receipt_id']):05d}"


def _deduplication_id(stream_record_id: str, collection: str) -> str:
    seed = f"{stream_record_id}\n{collection}"
    return hashlib.sha256(seed.encode()).hexdigest()
