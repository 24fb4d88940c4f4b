"""Event sources run locally the way AWS's event source mappings run them, against any endpoint."""

from __future__ import annotations

from receipt_compaction.harness.event_sources.invocation import Handler, Invocation
from receipt_compaction.harness.event_sources.queue import QueueSource
from receipt_compaction.harness.event_sources.stream import (
    IteratorRenewal,
    Shard,
    ShardReader,
    StreamReadError,
    StreamSource,
    StreamSourceSettings,
    failure_message,
    read_stream_records,
)

__all__ = [
    "Handler",
    "Invocation",
    "IteratorRenewal",
    "QueueSource",
    "Shard",
    "ShardReader",
    "StreamReadError",
    "StreamSource",
    "StreamSourceSettings",
    "failure_message",
    "read_stream_records",
]
