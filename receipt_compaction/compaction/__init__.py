"""The compaction stage: SQS messages -> a reconciled ChromaDB directory (heavy: chromadb, numpy)."""

from __future__ import annotations

from receipt_compaction.compaction.compactor import (
    CompactionResult,
    MergedRun,
    MessageOutcome,
    compact,
    complete_runs,
    scope_of,
)
from receipt_compaction.compaction.deltas import DeltaError, download_delta, merge_delta, safe_extract
from receipt_compaction.compaction.inbox import (
    CompactionMessage,
    MessageFailure,
    parse_sqs_record,
    parse_sqs_records,
)
from receipt_compaction.compaction.reconcile import Scope

__all__ = [
    "CompactionMessage",
    "CompactionResult",
    "DeltaError",
    "MergedRun",
    "MessageFailure",
    "MessageOutcome",
    "Scope",
    "compact",
    "complete_runs",
    "download_delta",
    "merge_delta",
    "parse_sqs_record",
    "parse_sqs_records",
    "safe_extract",
    "scope_of",
]
