"""Lambda handler: DynamoDB stream event -> SQS messages per Chroma collection (DESIGN §4, contract).

Environment: ``LINES_QUEUE_URL``, ``WORDS_QUEUE_URL``, ``AWS_REGION`` (and boto3's ``AWS_ENDPOINT_URL``).
Returns a partial batch response whose item identifiers are the SequenceNumbers of records whose
messages could not be published; the event source retries from the lowest of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from receipt_compaction.aws import sqs_client
from receipt_compaction.settings import StreamProcessorSettings
from receipt_compaction.stream import QueuePublisher, process_stream_records

__all__ = ["lambda_handler", "stream_event_records"]

logger = logging.getLogger(__name__)


def lambda_handler(event: Mapping[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    settings = StreamProcessorSettings.from_env()
    publisher = QueuePublisher(sqs_client(settings.region), settings.queue_urls)
    result = process_stream_records(stream_event_records(event), publisher=publisher)
    logger.info("stream batch processed: %s", result.summary())
    return result.response()


def stream_event_records(event: object) -> list[object]:
    """The ``Records`` of a DynamoDB stream event; anything else is a clear error, not a silent no-op."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        found = sorted(map(str, event)) if isinstance(event, Mapping) else type(event).__name__
        raise ValueError(f"expected a DynamoDB stream event with a 'Records' list, got {found}")
    return records
