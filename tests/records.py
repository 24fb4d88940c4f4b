"""Building stream records in the Lambda event shape, for tests that do not need a real stream."""

from __future__ import annotations

import itertools
from typing import Any

from receipt_compaction.entities import Entity, EventName
from receipt_compaction.local.records import stream_record as record_of

_sequence = itertools.count(1000)


def stream_record(
    event_name: EventName, *, old: Entity | None = None, new: Entity | None = None
) -> dict[str, Any]:
    """A record with the next sequence number of this test session."""
    return record_of(event_name, sequence_number=str(next(_sequence)), old=old, new=new)
