"""A scenario's raw work, recorded while it runs and replayed bare: the baseline of P1.

The raw work is what a hand-written pipeline would have to do anyway: the scenario's own DynamoDB writes
(items, deltas' CompactionRun items), the SQS messages the stream stage sends, and every chromadb write
(delta embeddings, merges, metadata updates, deletes). Replaying it issues the same calls with boto3 and
chromadb directly against fresh resources, with nothing around them: no stream polling, handlers, locks,
snapshots or checks. The difference to the scenario's wall time is the harness's (and the pipeline's) own.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chromadb.api.models.Collection import Collection

from receipt_compaction.aws import HANDLER_EVENTS
from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.harness.faults import events_of
from receipt_compaction.harness.resources import create_queue, create_table

if TYPE_CHECKING:
    from collections.abc import Iterator

    from receipt_compaction.aws import AwsClients

__all__ = ["ChromaCall", "RawWork", "record_chroma_calls", "record_raw_work", "replay", "replay_chroma"]

_TABLE_WRITES = ("PutItem", "DeleteItem", "BatchWriteItem")
_QUEUE_SENDS = ("SendMessage", "SendMessageBatch")
_CHROMA_WRITES = ("upsert", "update", "delete")

ChromaCall = tuple[str, str, tuple[Any, ...], dict[str, Any]]
"""(collection name, method, positional arguments, keyword arguments)"""


@dataclass
class RawWork:
    table_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    queue_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    chroma_calls: list[ChromaCall] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.table_calls)} table writes, {len(self.queue_calls)} queue sends, "
            f"{len(self.chroma_calls)} chromadb writes"
        )


@contextmanager
def record_raw_work(scenario_clients: AwsClients) -> Iterator[RawWork]:
    """Record the scenario's table writes (its own client), the stream handler's sends (every handler
    client's events reach ``HANDLER_EVENTS``) and every chromadb write made meanwhile."""
    work = RawWork()

    def table_write(params: dict[str, Any], model: Any, **_: Any) -> None:
        work.table_calls.append((model.name, dict(params)))

    def queue_send(params: dict[str, Any], model: Any, **_: Any) -> None:
        work.queue_calls.append((model.name, dict(params)))

    hooks = [
        (events_of(scenario_clients.dynamodb), f"before-parameter-build.dynamodb.{op}", table_write)
        for op in _TABLE_WRITES
    ]
    hooks += [(HANDLER_EVENTS, f"before-parameter-build.sqs.{op}", queue_send) for op in _QUEUE_SENDS]
    for events, event, handler in hooks:
        events.register(event, handler)
    try:
        with record_chroma_calls(work.chroma_calls, _CHROMA_WRITES):
            yield work
    finally:
        for events, event, handler in hooks:
            events.unregister(event, handler)


@contextmanager
def record_chroma_calls(calls: list[ChromaCall], methods: tuple[str, ...]) -> Iterator[None]:
    """Append every call of these ``Collection`` methods made meanwhile to ``calls``."""
    originals = {name: getattr(Collection, name) for name in methods}
    # Recording wrappers around the real methods (they call straight through): chromadb has no hook for
    # observing calls, and the replay needs their exact arguments.
    for name, original in originals.items():
        setattr(Collection, name, _recording(name, original, calls))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(Collection, name, original)


def _recording(name: str, original: Any, calls: list[ChromaCall]) -> Any:
    def method(self: Collection, *args: Any, **kwargs: Any) -> Any:
        calls.append((self.name, name, args, kwargs))
        return original(self, *args, **kwargs)

    return method


def replay(work: RawWork, clients: AwsClients, scratch: Path) -> float:
    """Seconds to issue the recorded calls bare, against fresh resources made (untimed) beforehand."""
    prefix = f"raw-{uuid.uuid4().hex[:8]}"
    table = f"{prefix}-table"
    create_table(clients.dynamodb, table)
    queues: dict[str, str] = {}
    for _, params in work.queue_calls:
        if params["QueueUrl"] not in queues:
            fifo = params["QueueUrl"].endswith(".fifo")
            queues[params["QueueUrl"]] = create_queue(clients.sqs, f"{prefix}-{len(queues)}", fifo=fifo)
    with tempfile.TemporaryDirectory(dir=scratch) as directory:
        started = time.perf_counter()
        _replay_table(work, clients, table)
        _replay_queues(work, clients, queues)
        replay_chroma(work.chroma_calls, Path(directory))
        elapsed = time.perf_counter() - started
    clients.dynamodb.delete_table(TableName=table)
    for url in queues.values():
        clients.sqs.delete_queue(QueueUrl=url)
    return elapsed


def _replay_table(work: RawWork, clients: AwsClients, table: str) -> None:
    for operation, params in work.table_calls:
        if operation == "BatchWriteItem":
            requests = [r for batch in params["RequestItems"].values() for r in batch]
            clients.dynamodb.batch_write_item(RequestItems={table: requests})
        elif operation == "PutItem":
            clients.dynamodb.put_item(**{**params, "TableName": table})
        else:
            clients.dynamodb.delete_item(**{**params, "TableName": table})


def _replay_queues(work: RawWork, clients: AwsClients, queues: dict[str, str]) -> None:
    for operation, params in work.queue_calls:
        fresh = {**params, "QueueUrl": queues[params["QueueUrl"]]}
        if operation == "SendMessageBatch":
            clients.sqs.send_message_batch(**fresh)
        else:
            clients.sqs.send_message(**fresh)


def replay_chroma(calls: list[ChromaCall], directory: Path) -> None:
    """Open the persistent directory and make the recorded calls on it, in order."""
    if not calls:
        return
    with open_chroma(directory) as client:
        collections: dict[str, Collection] = {}
        for name, method, args, kwargs in calls:
            if name not in collections:
                collections[name] = open_collection(client, name)
            getattr(collections[name], method)(*args, **kwargs)
