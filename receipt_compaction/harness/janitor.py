"""An isolated set of pipeline resources with unique names, created and torn down as one (the janitor).

Creation order: table with its stream, DLQs, collection queues (redrive to their DLQ), the stream's
on-failure queue, bucket, local directories. Teardown runs in reverse and logs (never raises) what it could
not remove, so a cleanup problem never hides the test's own failure.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName
from receipt_compaction.harness.resources import (
    create_bucket,
    create_queue,
    create_table,
    empty_and_delete_bucket,
    queue_arn,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from receipt_compaction.aws import AwsClients

__all__ = ["PipelineResources", "pipeline_resources"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineResources:
    prefix: str
    region: str
    table_name: str
    stream_arn: str
    queue_urls: dict[CollectionName, str]
    dlq_urls: dict[CollectionName, str]
    on_failure_url: str
    bucket: str
    efs_root: Path
    work_dir: Path

    def environ(self) -> dict[str, str]:
        """The variables both handlers read (DESIGN §4), pointing at these resources."""
        return {
            "DYNAMODB_TABLE_NAME": self.table_name,
            "LINES_QUEUE_URL": self.queue_urls["lines"],
            "WORDS_QUEUE_URL": self.queue_urls["words"],
            "CHROMADB_BUCKET": self.bucket,
            "EFS_ROOT": str(self.efs_root),
            "AWS_REGION": self.region,
        }


@contextmanager
def pipeline_resources(
    clients: AwsClients, *, root: Path, region: str, max_receives: int = 3, prefix: str | None = None
) -> Iterator[PipelineResources]:
    """Create the resources (names start with ``prefix``, unique by default) and remove them afterwards."""
    prefix = prefix or f"rc-{uuid.uuid4().hex[:10]}"
    undo: list[tuple[str, Callable[[], object]]] = []
    try:
        yield _create(clients, root=root, region=region, max_receives=max_receives, prefix=prefix, undo=undo)
    finally:
        for what, action in reversed(undo):
            try:
                action()
            except Exception as error:  # teardown must not hide the test's own outcome
                logger.warning("could not remove %s: %s", what, error)


def _create(
    clients: AwsClients,
    *,
    root: Path,
    region: str,
    max_receives: int,
    prefix: str,
    undo: list[tuple[str, Callable[[], object]]],
) -> PipelineResources:
    table = f"{prefix}-receipts"
    stream_arn = create_table(clients.dynamodb, table)
    undo.append((f"table {table}", lambda: clients.dynamodb.delete_table(TableName=table)))
    dlqs: dict[CollectionName, str] = {}
    queues: dict[CollectionName, str] = {}
    for collection in COLLECTIONS:
        dlq = dlqs[collection] = create_queue(clients.sqs, f"{prefix}-{collection}-dlq")
        undo.append((f"queue {dlq}", partial(clients.sqs.delete_queue, QueueUrl=dlq)))
        queue = queues[collection] = create_queue(
            clients.sqs,
            f"{prefix}-{collection}",
            dead_letter_arn=queue_arn(clients.sqs, dlq),
            max_receives=max_receives,
        )
        undo.append((f"queue {queue}", partial(clients.sqs.delete_queue, QueueUrl=queue)))
    on_failure = create_queue(clients.sqs, f"{prefix}-stream-failures")
    undo.append((f"queue {on_failure}", lambda: clients.sqs.delete_queue(QueueUrl=on_failure)))
    bucket = f"{prefix}-chroma"
    create_bucket(clients.s3, bucket, region)
    undo.append((f"bucket {bucket}", lambda: empty_and_delete_bucket(clients.s3, bucket)))
    efs_root, work_dir = root / "efs", root / "work"
    efs_root.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    return PipelineResources(
        prefix=prefix,
        region=region,
        table_name=table,
        stream_arn=stream_arn,
        queue_urls=queues,
        dlq_urls=dlqs,
        on_failure_url=on_failure,
        bucket=bucket,
        efs_root=efs_root,
        work_dir=work_dir,
    )
