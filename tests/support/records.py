"""Building stream records in the Lambda event shape, for tests that do not need a real stream."""

from __future__ import annotations

import itertools
from typing import Any

from receipt_compaction.entities import Entity, EventName
from receipt_compaction.harness.lambda_events import stream_record as record_of

REGION = "eu-central-1"
"""Records built here never reach a backend; a region no default would supply keeps that honest."""
_sequence = itertools.count(1000)


def stream_record(
    event_name: EventName, *, old: Entity | None = None, new: Entity | None = None, region: str = REGION
) -> dict[str, Any]:
    """A record with the next sequence number of this test session (no backend involved: any region)."""
    return record_of(event_name, sequence_number=str(next(_sequence)), region=region, old=old, new=new)
