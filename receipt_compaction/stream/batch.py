"""Processing a batch of stream records: parse, route, publish, and account for every record.

Failures are data: every record ends as ``sent``, ``skipped`` (it can never produce a message: not an image
item, an unknown entity, malformed, or no relevant change), ``rejected`` (a message of it can never be
sent, e.g. larger than SQS accepts: retrying cannot help, so it must go to the on-failure destination at
once) or ``failed`` (its messages were not all accepted; the event source should retry it). The handler
turns the failed ones into ``batchItemFailures`` and dead-letters the rejected ones itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from receipt_compaction.contract import SendableMessage
from receipt_compaction.observe import emit
from receipt_compaction.stream.parsing import IgnoredRecord, StreamRecordError, event_id_of, parse_record
from receipt_compaction.stream.publisher import MessagePublisher
from receipt_compaction.stream.routing import build_messages

__all__ = ["RecordOutcome", "RecordStatus", "StreamBatchResult", "process_stream_records"]

logger = logging.getLogger(__name__)

RecordStatus = Literal["sent", "skipped", "rejected", "failed"]


@dataclass(frozen=True)
class RecordOutcome:
    index: int
    event_id: str
    sequence_number: str | None
    status: RecordStatus
    reason: str
    messages: int = 0
    malformed: bool = False
    unrecognised: bool = False
    """An image item whose key has an entity's segments but values the entity refuses (logged at WARNING)."""
    keys: dict[str, object] | None = None
    """The record's ``Keys`` (DynamoDB JSON), kept for a rejected record's dead letter."""


@dataclass(frozen=True)
class StreamBatchResult:
    outcomes: tuple[RecordOutcome, ...]
    publish_errors: tuple[str, ...] = ()

    def count(self, status: RecordStatus) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def messages_sent(self) -> int:
        return sum(outcome.messages for outcome in self.outcomes if outcome.status == "sent")

    def rejected(self) -> list[RecordOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "rejected"]

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
            "unrecognised": sum(1 for outcome in self.outcomes if outcome.unrecognised),
            "rejected": self.count("rejected"),
            "failed": self.count("failed"),
            "messages": self.messages_sent,
        }


@dataclass(frozen=True)
class _Plan:
    outcome: RecordOutcome
    messages: tuple[SendableMessage, ...] = ()


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
    failed: dict[int, str] = {}
    rejected: dict[int, str] = {}
    if report is not None:
        permanent = report.permanent_failures()
        for failure in report.failures:
            owner = owners[failure.index]
            if failure.index in permanent:
                rejected.setdefault(owner, f"{failure.code}: {failure.reason}")
            else:
                failed.setdefault(owner, f"publish failed: {failure.code}: {failure.reason}")
    outcomes = tuple(_settle(plan, failed=failed, rejected=rejected) for plan in plans)
    for raw, plan, outcome in zip(records, plans, outcomes, strict=True):  # a timeline, when one is recorded
        emit("stream.decision", record=raw, outcome=outcome, messages=plan.messages)
    errors = tuple(str(error) for error in report.errors()) if report else ()
    for error in errors:
        logger.error("publish failed: %s", error)
    return StreamBatchResult(outcomes, errors)


def _plan(index: int, raw: object, timestamp: str) -> _Plan:
    try:
        return _plan_record(index, raw, timestamp)
    except Exception as error:  # a per-record boundary: a record nothing can read is rejected, alone
        event_id = event_id_of(raw)
        logger.warning("reading stream record %s raised %s", event_id, type(error).__name__, exc_info=True)
        reason = f"reading the record raised {type(error).__name__}: {str(error)[:200]}"
        change = raw.get("dynamodb") if isinstance(raw, Mapping) else None
        keys = change.get("Keys") if isinstance(change, Mapping) else None
        sequence = change.get("SequenceNumber") if isinstance(change, Mapping) else None
        outcome = RecordOutcome(
            index,
            event_id,
            sequence if isinstance(sequence, str) else None,
            "rejected",
            reason,
            malformed=True,
            keys=dict(keys) if isinstance(keys, Mapping) else None,
        )
        return _Plan(outcome)


def _plan_record(index: int, raw: object, timestamp: str) -> _Plan:
    event_id = event_id_of(raw)
    try:
        parsed = parse_record(raw)
    except StreamRecordError as error:
        logger.warning("skipping malformed stream record %s: %s", event_id, error)
        return _Plan(RecordOutcome(index, event_id, None, "skipped", str(error), malformed=True))
    sequence_number = parsed.record.sequence_number
    if isinstance(parsed, IgnoredRecord):
        if parsed.unrecognised:  # meant for the pipeline and lost to it: say so, with the key
            logger.warning("skipping stream record %s with an unrecognised key: %s", event_id, parsed.reason)
        else:
            logger.debug("ignoring stream record %s: %s", event_id, parsed.reason)
        return _Plan(
            RecordOutcome(
                index, event_id, sequence_number, "skipped", parsed.reason, unrecognised=parsed.unrecognised
            )
        )
    messages = build_messages(parsed, timestamp=timestamp)
    if not messages:
        reason = f"{parsed.record.event_name} of {parsed.entity_class.ENTITY_TYPE} changes no embedding"
        logger.debug("stream record %s: %s", event_id, reason)
        return _Plan(RecordOutcome(index, event_id, sequence_number, "skipped", reason))
    collections = ", ".join(message.collection for message in messages)
    outcome = RecordOutcome(
        index,
        event_id,
        sequence_number,
        "sent",
        f"sent to {collections}",
        len(messages),
        keys=dict(parsed.record.change.keys),
    )
    return _Plan(outcome, messages)


def _settle(plan: _Plan, *, failed: Mapping[int, str], rejected: Mapping[int, str]) -> RecordOutcome:
    """A record with a message that can never be sent is rejected, whatever else failed: retrying it
    cannot help. Otherwise any failed message fails the record (the event source retries it)."""
    outcome = plan.outcome
    index = outcome.index
    if index in rejected:
        return replace(outcome, status="rejected", reason=rejected[index])
    if index in failed:
        return replace(outcome, status="failed", reason=failed[index])
    return outcome
