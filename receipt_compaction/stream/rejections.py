"""Records that can never be published: logged at ERROR, counted, and sent to the on-failure queue at once.

A record is *rejected* when a message of it can never be sent (larger than SQS accepts). Reporting it in
``batchItemFailures`` would be wrong twice over: the event source would retry it, identically, until its
retries run out, and meanwhile it would hold back (and re-send) every record after it in its shard. So the
handler reports it as processed, and dead-letters it itself: an event source mapping cannot be told "this
one, now", and its own on-failure destination is only reached after every retry. The dead letter names the
record (eventID, SequenceNumber, Keys) and the reason, never the record's images: they are what did not fit.
If the dead letter cannot be sent, the record is reported failed after all, so it is retried rather than
lost.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from receipt_compaction.settings import STREAM_FAILURE_QUEUE_VARIABLE

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from receipt_compaction.stream.batch import RecordOutcome, StreamBatchResult

__all__ = ["FAILURE_QUEUE_VARIABLE", "dead_letter_body", "dead_letter_rejected"]

logger = logging.getLogger(__name__)

FAILURE_QUEUE_VARIABLE = STREAM_FAILURE_QUEUE_VARIABLE
"""The handler setting naming where rejected records go (``settings.StreamProcessorSettings``)."""


def dead_letter_body(outcome: RecordOutcome) -> str:
    """The dead letter of one rejected record: why, and which record (no images)."""
    record = {"eventID": outcome.event_id, "SequenceNumber": outcome.sequence_number, "Keys": outcome.keys}
    return json.dumps({"reason": f"rejected: {outcome.reason}", "records": [record]}, default=str)


def dead_letter_rejected(
    result: StreamBatchResult, *, sqs: SQSClient, queue_url: str | None
) -> list[dict[str, str]]:
    """Log every rejected record at ERROR and send it to ``queue_url`` (when given); returns the
    ``batchItemFailures`` entries of those whose dead letter could not be sent."""
    unsent: list[dict[str, str]] = []
    for outcome in result.rejected():
        logger.error(
            "stream record %s (SequenceNumber %s, Keys %s) can never be published and is not retried: %s",
            outcome.event_id,
            outcome.sequence_number,
            outcome.keys,
            outcome.reason,
        )
        if not queue_url:
            continue
        try:
            sqs.send_message(QueueUrl=queue_url, MessageBody=dead_letter_body(outcome))
        except (ClientError, BotoCoreError) as error:
            logger.error(
                "dead letter of stream record %s not sent, it is retried: %s", outcome.event_id, error
            )
            if outcome.sequence_number is not None:
                unsent.append({"itemIdentifier": outcome.sequence_number})
    return unsent
