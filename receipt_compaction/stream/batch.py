"""Processing a batch of stream records: parse, route, publish, and account for every record.

Failures are data: every record ends as ``sent``, ``skipped`` (it can never produce a message: not an image
item, an unknown entity, malformed, or no relevant change) or ``failed`` (its messages were not all
accepted; the event source should retry it). The handler turns the failed ones into ``batchItemFailures``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from receipt_compaction.contract import QueueMessage
from receipt_compaction.stream.parsing import IgnoredRecord, StreamRecordError, event_id_of, parse_record
from receipt_compaction.stream.publisher import MessagePublisher
from receipt_compaction.stream.routing import build_messages

__all__ = ["RecordOutcome", "RecordStatus", "StreamBatchResult", "process_stream_records"]

logger = logging.getLogger(__name__)

RecordStatus = Literal["sent", "skipped", "failed"]


@dataclass(frozen=True)
class RecordOutcome:
    index: int
    event_id: str
    sequence_number: str | None
    status: RecordStatus
    reason: str
    messages: int = 0
    malformed: bool = False


@dataclass(frozen=True)
class StreamBatchResult:
    outcomes: tuple[RecordOutcome, ...]
    publish_errors: tuple[str, ...] = ()

    def count(self, status: RecordStatus) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def messages_sent(self) -> int:
        return sum(outcome.messages for outcome in self.outcomes if outcome.status == "sent")

    def batch_item_failures(self) -> list[dict[str, str]]:
        return [
            {"itemIdentifier": outcome.sequence_number}
            for outcome in self.outcomes
            if outcome.status == "failed" and outcome.sequence_number is not None
        ]

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The Lambda partial batch response for a DynamoDB stream event source."""
        return {"batchItemFailures": self.batch_item_failures()}

    def summary(self) -> dict[str, int]:
        return {
            "records": len(self.outcomes),
            "sent": self.count("sent"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "messages": self.messages_sent,
        }


@dataclass(frozen=True)
class _Plan:
    outcome: RecordOutcome
    messages: tuple[QueueMessage, ...] = ()


def process_stream_records(
    records: Sequence[object],
    *,
    publisher: MessagePublisher,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StreamBatchResult:
    """Turn stream records into queue messages, publish them, and return one outcome per record."""
    timestamp = now().isoformat()
    plans = [_plan(index, raw, timestamp) for index, raw in enumerate(records)]
    messages = [message for plan in plans for message in plan.messages]
    owners = [plan.outcome.index for plan in plans for _ in plan.messages]
    report = publisher.publish(messages) if messages else None
    failed_records = {owners[index] for index in report.failed_indexes()} if report else set()
    outcomes = tuple(_settle(plan, failed=plan.outcome.index in failed_records) for plan in plans)
    errors = tuple(str(error) for error in report.errors()) if report else ()
    for error in errors:
        logger.error("publish failed, the records are reported for retry: %s", error)
    return StreamBatchResult(outcomes, errors)


def _plan(index: int, raw: object, timestamp: str) -> _Plan:
    event_id = event_id_of(raw)
    try:
        parsed = parse_record(raw)
    except StreamRecordError as error:
        logger.warning("skipping malformed stream record %s: %s", event_id, error)
        return _Plan(RecordOutcome(index, event_id, None, "skipped", str(error), malformed=True))
    sequence_number = parsed.record.sequence_number
    if isinstance(parsed, IgnoredRecord):
        logger.debug("ignoring stream record %s: %s", event_id, parsed.reason)
        return _Plan(RecordOutcome(index, event_id, sequence_number, "skipped", parsed.reason))
    messages = build_messages(parsed, timestamp=timestamp)
    if not messages:
        reason = f"{parsed.record.event_name} of {parsed.entity_class.ENTITY_TYPE} changes no embedding"
        logger.debug("stream record %s: %s", event_id, reason)
        return _Plan(RecordOutcome(index, event_id, sequence_number, "skipped", reason))
    collections = ", ".join(message.collection for message in messages)
    outcome = RecordOutcome(index, event_id, sequence_number, "sent", f"sent to {collections}", len(messages))
    return _Plan(outcome, messages)


def _settle(plan: _Plan, *, failed: bool) -> RecordOutcome:
    if not failed:
        return plan.outcome
    outcome = plan.outcome
    return RecordOutcome(
        outcome.index, outcome.event_id, outcome.sequence_number, "failed", "publish failed", outcome.messages
    )
