"""The stream stage: DynamoDB stream records -> per-collection SQS messages.

Light by design (boto3 and pydantic only): it never imports chromadb or numpy, so it ships as a zip Lambda.
"""

from __future__ import annotations

from receipt_compaction.stream.batch import RecordOutcome, StreamBatchResult, process_stream_records
from receipt_compaction.stream.changes import relevant_changes
from receipt_compaction.stream.parsing import (
    IgnoredRecord,
    ParsedRecord,
    StreamRecord,
    StreamRecordError,
    parse_record,
)
from receipt_compaction.stream.publisher import (
    MessagePublisher,
    PublishError,
    PublishFailure,
    QueuePublisher,
    SendReport,
)
from receipt_compaction.stream.routing import build_messages

__all__ = [
    "IgnoredRecord",
    "MessagePublisher",
    "ParsedRecord",
    "PublishError",
    "PublishFailure",
    "QueuePublisher",
    "RecordOutcome",
    "SendReport",
    "StreamBatchResult",
    "StreamRecord",
    "StreamRecordError",
    "build_messages",
    "parse_record",
    "process_stream_records",
    "relevant_changes",
]
