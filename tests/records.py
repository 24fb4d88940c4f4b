"""Building stream records in the Lambda event shape, for tests that do not need a real stream."""

from __future__ import annotations

import itertools
from typing import Any

from receipt_compaction.entities import Entity

_sequence = itertools.count(1000)
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/receipts/stream/2026-01-01T00:00:00.000"


def stream_record(event_name: str, *, old: Entity | None = None, new: Entity | None = None) -> dict[str, Any]:
    entity = new or old
    assert entity is not None
    change: dict[str, Any] = {
        "Keys": entity.key(),
        "SequenceNumber": str(next(_sequence)),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        change["OldImage"] = old.to_item()
    if new is not None:
        change["NewImage"] = new.to_item()
    return {
        "eventID": f"event-{change['SequenceNumber']}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": STREAM_ARN,
    }
