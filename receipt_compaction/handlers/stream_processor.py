"""Lambda handler: DynamoDB stream event -> SQS messages per Chroma collection (DESIGN §4, contract).

Environment: ``LINES_QUEUE_URL``, ``WORDS_QUEUE_URL``, ``AWS_REGION`` (and boto3's ``AWS_ENDPOINT_URL``);
optional ``STREAM_FAILURE_QUEUE_URL``, where records that can never be published are sent at once.
Returns a partial batch response whose item identifiers are the SequenceNumbers of records whose
messages could not be published; the event source retries from the lowest of them. A record that can never
be published (a message larger than SQS accepts) is not among them: it is logged at ERROR, counted, and
dead-lettered (``receipt_compaction.stream.rejections`` says why).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from receipt_compaction.aws import sqs_client
from receipt_compaction.handlers.events import event_records
from receipt_compaction.settings import StreamProcessorSettings
from receipt_compaction.stream import QueuePublisher, process_stream_records
from receipt_compaction.stream.rejections import dead_letter_rejected

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["lambda_handler"]

logger = logging.getLogger(__name__)


def lambda_handler(event: Mapping[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    settings = StreamProcessorSettings.from_env()
    sqs = sqs_client(settings.region)
    publisher = QueuePublisher(sqs, settings.queue_urls)
    result = process_stream_records(event_records(event, source="a DynamoDB stream"), publisher=publisher)
    unsent = dead_letter_rejected(result, sqs=sqs, queue_url=settings.failure_queue_url)
    logger.info("stream batch processed: %s", result.summary())
    return {"batchItemFailures": result.batch_item_failures() + unsent}
