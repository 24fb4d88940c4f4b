"""Running the handlers locally the way AWS's event source mappings would (no pytest here)."""

from __future__ import annotations

from receipt_compaction.local.queue_source import lambda_sqs_event
from receipt_compaction.local.resources import create_queue, create_table
from receipt_compaction.local.seeding import receipt_entities
from receipt_compaction.local.stream_source import lambda_stream_event, read_stream_records

__all__ = [
    "create_queue",
    "create_table",
    "lambda_sqs_event",
    "lambda_stream_event",
    "read_stream_records",
    "receipt_entities",
]
