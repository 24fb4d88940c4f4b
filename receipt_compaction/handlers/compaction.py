"""Lambda handler: SQS messages -> a compacted, published snapshot per collection (DESIGN §4, contract).

Environment: ``DYNAMODB_TABLE_NAME``, ``CHROMADB_BUCKET``, ``EFS_ROOT`` (local snapshot cache; default a temp
dir), ``AWS_REGION``, boto3's ``AWS_ENDPOINT_URL``; optional ``COMPACTION_LEASE_SECONDS`` (120) and
``COMPACTION_KEEP_VERSIONS`` (4). Returns a partial batch response by SQS messageId.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from receipt_compaction.aws import handler_clients
from receipt_compaction.compaction.cycle import process_sqs_batch
from receipt_compaction.handlers.events import event_records
from receipt_compaction.settings import CompactionSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["lambda_handler"]

logger = logging.getLogger(__name__)


def lambda_handler(event: Mapping[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    settings = CompactionSettings.from_env()
    report = process_sqs_batch(
        event_records(event, source="an SQS"), settings=settings, clients=handler_clients(settings.region)
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
