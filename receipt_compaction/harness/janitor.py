"""An isolated set of pipeline resources with unique names, created and torn down as one (the janitor).

Creation order: table with its stream, DLQs, collection queues (redrive to their DLQ), the stream's
on-failure queue, bucket, local directories. Teardown runs in reverse and logs (never raises) what it could
not remove, so a cleanup problem never hides the test's own failure.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName
from receipt_compaction.harness.deployment import deployed_settings
from receipt_compaction.harness.resources import (
    create_bucket,
    create_queue,
    create_stream_table,
    empty_and_delete_bucket,
    queue_arn,
    sibling_queue_arn,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.harness.backends import Backend
    from receipt_compaction.harness.pipeline import DrainReport

__all__ = [
    "CompactionEnv",
    "PipelineResources",
    "ResourceOptions",
    "open_compaction_env",
    "pipeline_resources",
]

logger = logging.getLogger(__name__)

_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


@dataclass(frozen=True)
class ResourceOptions:
    """What a user may choose about one set of resources; checked when made, so a bad value fails early.

    The collections themselves (``lines``, ``words``) are the contract and are not renamed: the names that
    change are the resources', ``{prefix}-{10 hex}-receipts``, ``-lines``, ``-lines-dlq``, ``-words``,
    ``-words-dlq``, ``-stream-failures`` and ``-chroma`` (the bucket). ``fifo`` makes the collection queues
    and their DLQs FIFO (SQS requires a FIFO queue's DLQ to be FIFO); the stream's on-failure queue stays
    standard (it receives failure records, not collection messages). ``max_receives`` and
    ``visibility_timeout`` default to the deployed queues' (``deploy/template.yaml``); ``visibility_timeout``
    None is SQS's default (30 s).
    """

    prefix: str = "rc"
    fifo: bool = False
    max_receives: int = field(default_factory=lambda: deployed_settings().max_receives)
    visibility_timeout: int | None = field(default_factory=lambda: deployed_settings().visibility_timeout)

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                f"resource prefix {self.prefix!r} cannot name a table, queues and a bucket: use 1 to 40 "
                "lowercase letters, digits and hyphens, starting with a letter or digit (prefix='team-a')"
            )
        if not isinstance(self.max_receives, int) or not 1 <= self.max_receives <= 1000:
            raise ValueError(f"max_receives is {self.max_receives!r}; SQS accepts 1 to 1000 receives")
        timeout = self.visibility_timeout
        if timeout is not None and (not isinstance(timeout, int) or not 0 <= timeout <= 43200):
            raise ValueError(
                f"visibility_timeout is {timeout!r}; SQS accepts 0 to 43200 seconds, "
                "or None for the queue's default (30 s)"
            )

    def unique_prefix(self) -> str:
        return f"{self.prefix}-{uuid.uuid4().hex[:10]}"


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
    queue_arns: Mapping[str, str] = field(default_factory=dict)
    """ARN by queue URL, as known when the queues were made (an event source needs its queue's ARN)."""
    stream_description: Mapping[str, Any] | None = None
    """The ``DescribeStream`` answer that found the new stream ENABLED: a reader starts from its shards."""

    def environ(self) -> dict[str, str]:
        """The variables both handlers read (DESIGN §4), pointing at these resources."""
        return {
            "DYNAMODB_TABLE_NAME": self.table_name,
            "LINES_QUEUE_URL": self.queue_urls["lines"],
            "WORDS_QUEUE_URL": self.queue_urls["words"],
            "STREAM_FAILURE_QUEUE_URL": self.on_failure_url,
            "CHROMADB_BUCKET": self.bucket,
            "EFS_ROOT": str(self.efs_root),
            "AWS_REGION": self.region,
        }


@dataclass(frozen=True)
class CompactionEnv:
    """One isolated set of resources on a backend, and the environment the handlers read to use them."""

    resources: PipelineResources
    backend: Backend
    environ: dict[str, str]
    root: Path

    def keep_drain_reports(self, reports: Sequence[DrainReport]) -> Path:
        """Write the drain reports beside the resources' directories (a failed test's artifacts); the path."""
        path = self.root / "drain-reports.json"
        path.write_text("[" + ",\n".join(report.to_json() for report in reports) + "]\n")
        return path


@contextmanager
def open_compaction_env(
    backend: Backend, clients: AwsClients, *, root: Path, options: ResourceOptions | None = None
) -> Iterator[CompactionEnv]:
    """``pipeline_resources`` on ``backend``, with the variables of both the backend and the resources."""
    with pipeline_resources(clients, root=root, region=backend.region, options=options) as resources:
        yield CompactionEnv(resources, backend, {**backend.environ(), **resources.environ()}, root)


@contextmanager
def pipeline_resources(
    clients: AwsClients, *, root: Path, region: str, options: ResourceOptions | None = None
) -> Iterator[PipelineResources]:
    """Create the resources (named ``options.prefix``, a unique part, their role); remove them afterwards."""
    undo: list[tuple[str, Callable[[], object]]] = []
    try:
        yield _create(clients, root=root, region=region, options=options or ResourceOptions(), undo=undo)
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
    options: ResourceOptions,
    undo: list[tuple[str, Callable[[], object]]],
) -> PipelineResources:
    prefix = options.unique_prefix()
    table = f"{prefix}-receipts"
    stream_arn, description = create_stream_table(clients.dynamodb, table, streams=clients.dynamodbstreams)
    undo.append((f"table {table}", lambda: clients.dynamodb.delete_table(TableName=table)))
    dlqs: dict[CollectionName, str] = {}
    queues: dict[CollectionName, str] = {}
    arns: dict[str, str] = {}
    for collection in COLLECTIONS:
        dlq = dlqs[collection] = create_queue(clients.sqs, f"{prefix}-{collection}-dlq", fifo=options.fifo)
        undo.append((f"queue {dlq}", partial(clients.sqs.delete_queue, QueueUrl=dlq)))
        # One GetQueueAttributes for the first queue; the others share its account and region.
        arns[dlq] = sibling_queue_arn(next(iter(arns.values())), dlq) if arns else queue_arn(clients.sqs, dlq)
        queue = queues[collection] = create_queue(
            clients.sqs,
            f"{prefix}-{collection}",
            fifo=options.fifo,
            dead_letter_arn=arns[dlq],
            max_receives=options.max_receives,
            visibility_timeout=options.visibility_timeout,
        )
        undo.append((f"queue {queue}", partial(clients.sqs.delete_queue, QueueUrl=queue)))
        arns[queue] = sibling_queue_arn(arns[dlq], queue)
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
        queue_arns=arns,
        stream_description=description,
    )
