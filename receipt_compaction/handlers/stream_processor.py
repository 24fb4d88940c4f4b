"""Lambda handler: DynamoDB stream event -> SQS messages per Chroma collection (DESIGN §4, contract).

Environment: ``LINES_QUEUE_URL``, ``WORDS_QUEUE_URL``, ``AWS_REGION`` (and boto3's ``AWS_ENDPOINT_URL``).
Returns a partial batch response whose item identifiers are the SequenceNumbers of records whose
messages could not be published; the event source retries from the lowest of them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from receipt_compaction.aws import sqs_client
from receipt_compaction.handlers.events import event_records
from receipt_compaction.settings import StreamProcessorSettings
from receipt_compaction.stream import QueuePublisher, process_stream_records

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["lambda_handler"]

logger = logging.getLogger(__name__)


def lambda_handler(event: Mapping[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    settings = StreamProcessorSettings.from_env()
    publisher = QueuePublisher(sqs_client(settings.region), settings.queue_urls)
    result = process_stream_records(event_records(event, source="a DynamoDB stream"), publisher=publisher)
    logger.info("stream batch processed: %s", result.summary())
    return result.response()
