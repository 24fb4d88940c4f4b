"""Lambda handler: SQS messages -> a compacted, published snapshot per collection (DESIGN §4, contract).

Environment: ``DYNAMODB_TABLE_NAME``, ``CHROMADB_BUCKET``, ``EFS_ROOT`` (local snapshot cache; default a temp
dir), ``AWS_REGION``, boto3's ``AWS_ENDPOINT_URL``; optional ``COMPACTION_LEASE_SECONDS`` (120),
``COMPACTION_KEEP_VERSIONS`` (4), ``COMPACTION_LEASE_WAIT_MARGIN_SECONDS`` (60),
``COMPACTION_LEASE_WAIT_SECONDS`` (2) and ``COMPACTION_WORK_DIR`` (working copies; default a temp dir).
Returns a partial batch response by SQS messageId.

A busy lease (another compactor is publishing the collection) is waited for inside the invocation, until the
function's remaining time (``context.get_remaining_time_in_millis()``) is down to the margin it needs to
compact and publish; with no Lambda context (local runs, the harness) for ``COMPACTION_LEASE_WAIT_SECONDS``.
Only then are that collection's messages failed. What the SQS queue needs from this:

- visibility timeout >= the function timeout (AWS advises 6 x) and > ``COMPACTION_LEASE_SECONDS``: a
  message must not come back while an invocation still waits on it or works on it, nor before a dead
  holder's lease has run out;
- ``maxReceiveCount`` (the redrive policy) large enough that waits that run out do not send good messages to
  the DLQ: a receive is spent only when the lease stayed busy for the whole wait (function timeout minus
  the margin), so with N compactors contending, each receive waits through up to N - 1 cycles; 5 or more
  gives room for a stuck holder (one lease length) on top.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from receipt_compaction.aws import handler_clients
from receipt_compaction.compaction.cycle import local_wait_budget, process_sqs_batch
from receipt_compaction.handlers.events import event_records
from receipt_compaction.settings import CompactionSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["lambda_handler", "lease_wait_budget"]

logger = logging.getLogger(__name__)


def lambda_handler(event: Mapping[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    settings = CompactionSettings.from_env()
    report = process_sqs_batch(
        event_records(event, source="an SQS"),
        settings=settings,
        clients=handler_clients(settings.region),
        wait_budget=lease_wait_budget(context, settings),
    )
    for collection in report.collections:
        logger.info(
            "compacted %s: %d messages, %d failed, version %s",
            collection.collection,
            len(collection.message_ids),
            len(collection.failures),
            collection.version_id or "unchanged",
        )
    return report.response()


def lease_wait_budget(context: object, settings: CompactionSettings) -> Callable[[], float]:
    """Seconds this invocation may still wait for a busy lease: the function's remaining time minus
    ``settings.lease_wait_margin_seconds`` under Lambda, else ``settings.lease_wait_seconds`` from now."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining_ms):
        return local_wait_budget(settings)
    margin = settings.lease_wait_margin_seconds

    def budget() -> float:
        return float(remaining_ms()) / 1000 - margin

    logger.debug("lease wait budget %.1f s at %.3f", budget(), time.monotonic())
    return budget
