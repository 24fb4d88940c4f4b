"""The SQS message contract between the stream stage and the compactor (DESIGN §4).

The body is the JSON of ``StreamMessage``; the collection travels as a message attribute, next to the
entity type and event name, so a consumer can route without parsing the body.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from receipt_compaction.chroma_ids import CollectionName
from receipt_compaction.entities.base import EventName

__all__ = ["ChangeValue", "FieldChange", "QueueMessage", "StreamMessage"]

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

    def attributes(self) -> dict[str, dict[str, Any]]:
        """SQS message attributes (all ``String``)."""
        values = {
            "source": self.message.source,
            "collection": self.collection,
            "entity_type": self.message.entity_type,
            "event_name": self.message.event_name,
        }
        return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}

    def group_id(self) -> str:
        """FIFO ordering scope: one receipt (all of its messages stay in order)."""
        data = self.message.entity_data
        return f"IMAGE#{data['image_id']}#RECEIPT#{int(data['receipt_id']):05d}"

    def deduplication_id(self) -> str:
        """FIFO deduplication: the same stream record sent to the same collection is one message."""
        seed = f"{self.message.stream_record_id}\n{self.collection}"
        return hashlib.sha256(seed.encode()).hexdigest()
