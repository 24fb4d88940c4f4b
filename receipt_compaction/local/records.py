"""Building DynamoDB stream records for entities, in the Lambda event shape, without a table or a stream
(for tests and benchmarks of the stream stage)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from receipt_compaction.entities import Entity, EventName

__all__ = ["STREAM_ARN", "stream_record"]

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/receipts/stream/2026-01-01T00:00:00.000"


def stream_record(
    event_name: EventName, *, sequence_number: str, old: Entity | None = None, new: Entity | None = None
) -> dict[str, Any]:
    """The record a NEW_AND_OLD_IMAGES stream carries when ``old`` becomes ``new`` (None: absent)."""
    entity = new or old
    if entity is None:
        raise ValueError("a stream record needs an old or a new entity")
    change: dict[str, Any] = {
        "Keys": entity.key(),
        "SequenceNumber": sequence_number,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        change["OldImage"] = old.to_item()
    if new is not None:
        change["NewImage"] = new.to_item()
    return {
        "eventID": f"event-{sequence_number}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": STREAM_ARN,
    }
