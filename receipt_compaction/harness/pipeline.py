"""LocalPipeline: the real handlers driven by local event sources over one set of resources (DESIGN §5-6).

``put``/``delete`` write the table; ``drain()`` runs the stream and queue sources until no source has had
anything for a quiet period (or raises at a deadline, naming what is still in flight) and says what
happened; ``latest_snapshot()`` downloads what the pointer names, every sha256 checked; ``seed_receipt()``
writes a receipt and brings it into both published collections the way production does (a delta and a
CompactionRun, then a drain).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName, line_embedding_id, word_embedding_id
from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.embedding import HashEmbedder, produce_delta
from receipt_compaction.handlers import compaction, stream_processor
from receipt_compaction.harness.event_sources import (
    Invocation,
    QueueSource,
    StreamSource,
    StreamSourceSettings,
    failure_message,
)
from receipt_compaction.harness.handler_writes import HandlerWrites, observe_handler_writes
from receipt_compaction.harness.lambda_runtime import with_environment
from receipt_compaction.harness.seeding import receipt_entities
from receipt_compaction.harness.settings import drain_timing
from receipt_compaction.harness.trace import DrainTrace, traced_drain, traced_handler
from receipt_compaction.lock import expire_lease
from receipt_compaction.observe import emit
from receipt_compaction.snapshot import SnapshotStore
from receipt_compaction.state import ReceiptKey, ReceiptState, load_receipt_state

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.embedding import DeltaLayout, Embedder
    from receipt_compaction.entities import CompactionRun, Entity
    from receipt_compaction.harness.janitor import PipelineResources

__all__ = [
    "DrainDeadlineExceeded",
    "DrainReport",
    "DrainStuck",
    "LocalPipeline",
    "ReceiptSpec",
    "SeededReceipt",
    "SnapshotView",
]

logger = logging.getLogger(__name__)

MAX_INVOCATIONS = 10_000
BATCH_WRITE_ITEMS = 25
"""The most items one ``BatchWriteItem`` call takes."""
BATCH_WRITE_ATTEMPTS = 8
FIRST_IDLE_PAUSE = 0.01
MAX_IDLE_PAUSE = 0.25
"""Between passes that found nothing, the driver waits 0, then 10 ms doubling up to 250 ms (an event source
mapping polls a shard about 4 times a second): no ``GetRecords`` storm while it waits out a quiet period."""


class DrainStuck(RuntimeError):
    """The sources kept working without ever running dry."""


class DrainDeadlineExceeded(DrainStuck):
    """``drain()`` reached its deadline with work in flight; the message names it (records pending per shard,
    messages per queue)."""


@dataclass(frozen=True)
class DrainReport:
    """What one ``drain()`` did."""

    records: int
    messages: int
    messages_by_collection: dict[str, int]
    invocations: tuple[Invocation, ...]
    batch_item_failures: tuple[str, ...]
    dlq_arrivals: dict[str, int]
    on_failure_arrivals: int
    published_versions: dict[str, tuple[str, ...]]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


@dataclass(frozen=True)
class ReceiptSpec:
    """A receipt to seed: its key, its words line by line, and optionally its merchant."""

    image_id: str
    receipt_id: int
    lines: Sequence[Sequence[str]]
    merchant_name: str | None = None


@dataclass(frozen=True)
class SeededReceipt:
    image_id: str
    receipt_id: int
    line_ids: tuple[str, ...]
    word_ids: tuple[str, ...]
    report: DrainReport


@dataclass(frozen=True)
class SnapshotView:
    """A downloaded, checked version of one collection, read-only, with chromadb's ``get`` shape."""

    collection: str
    version_id: str
    path: Path

    def count(self) -> int:
        with open_chroma(self.path) as client:
            return open_collection(client, self.collection).count()

    def get(self, ids: Sequence[str] | None = None, where: Mapping[str, Any] | None = None) -> dict[str, Any]:
        with open_chroma(self.path) as client:
            found = open_collection(client, self.collection).get(
                ids=list(ids) if ids is not None else None,
                where=dict(where) if where else None,
                include=["documents", "metadatas"],
            )
        return dict(found)


@dataclass
class LocalPipeline:
    clients: AwsClients
    resources: PipelineResources
    environ: Mapping[str, str]
    """Everything the handlers read from the environment: the backend's variables and the resources'."""
    embedder: Embedder = field(default_factory=lambda: HashEmbedder(16))
    reports: list[DrainReport] = field(default_factory=list)
    traces: list[DrainTrace] = field(default_factory=list, kw_only=True)
    """The timeline of every drain (``receipt_compaction.harness.trace``), also of one that raised."""
    on_invocation: Callable[[Invocation], None] | None = None
    """Called after every handler invocation a drain makes (a progress bar, a log line)."""
    quiet_period: float = field(default=drain_timing("moto").quiet_period, kw_only=True)
    """Seconds in which no source may have had anything (no record, message or invocation) before ``drain()``
    ends; on top, every shard must have answered several consecutive empty pages."""
    drain_deadline: float = field(default=drain_timing("moto").deadline, kw_only=True)
    """Seconds after which ``drain()`` gives up with ``DrainDeadlineExceeded`` naming what is in flight."""
    stream_settings: StreamSourceSettings | None = field(default=None, kw_only=True)
    """How the stream is read and its handler retried (batch size, retries, empty pages per pass, ...)."""

    def __post_init__(self) -> None:
        self._stream = StreamSource(
            self.clients.dynamodbstreams,
            self.resources.stream_arn,
            traced_handler("stream", with_environment(stream_processor.lambda_handler, self.environ)),
            on_failure=self._send_to_on_failure,
            region=self.resources.region,
            settings=self.stream_settings,
            description=self.resources.stream_description,
        )
        self._queues = [
            QueueSource(
                self.clients.sqs,
                self.resources.queue_urls[collection],
                traced_handler(collection, with_environment(compaction.lambda_handler, self.environ)),
                name=collection,
                region=self.resources.region,
                queue_arn=self.resources.queue_arns.get(self.resources.queue_urls[collection]),
                on_first_release=partial(self._first_release, collection),
            )
            for collection in COLLECTIONS
        ]
        self.last_writes = HandlerWrites(self.resources.bucket, self.resources.on_failure_url)
        """What the handlers wrote during the last drain (kept when it raised, e.g. a simulated crash)."""
        self._dlq_before: dict[CollectionName, int] = {}
        self._to_poll: set[str] = set(self.resources.queue_urls.values())
        self._sends_seen: dict[str, int] = {}

    # -- writing ------------------------------------------------------------------------------------------

    def put(self, entity: Entity) -> None:
        self.clients.dynamodb.put_item(TableName=self.resources.table_name, Item=entity.to_item())

    def delete(self, entity: Entity) -> None:
        self.clients.dynamodb.delete_item(TableName=self.resources.table_name, Key=entity.key())

    def seed_receipt(
        self,
        *,
        image_id: str,
        receipt_id: int,
        lines: Sequence[Sequence[str]],
        merchant_name: str | None = None,
    ) -> SeededReceipt:
        """Write the receipt's items, embed them through a delta and a CompactionRun, and drain."""
        spec = ReceiptSpec(image_id=image_id, receipt_id=receipt_id, lines=lines, merchant_name=merchant_name)
        return self.seed_receipts([spec])[0]

    def seed_receipts(self, receipts: Sequence[ReceiptSpec]) -> list[SeededReceipt]:
        """Seed several receipts with one drain for all of them: their items in ``BatchWriteItem`` calls, then
        a delta of each, as ``seed_receipt`` makes one."""
        self.put_many([entity for spec in receipts for entity in self._receipt_entities(spec)])
        states = [
            self.produce_delta(ReceiptKey(spec.image_id, spec.receipt_id), f"seed-{uuid.uuid4().hex[:12]}")[0]
            for spec in receipts
        ]
        report = self.drain()
        return [
            SeededReceipt(
                image_id=state.key.image_id,
                receipt_id=state.key.receipt_id,
                line_ids=tuple(
                    line_embedding_id(state.key.image_id, state.key.receipt_id, line) for line in state.lines
                ),
                word_ids=tuple(
                    word_embedding_id(state.key.image_id, state.key.receipt_id, *word) for word in state.words
                ),
                report=report,
            )
            for state in states
        ]

    def put_many(self, entities: Sequence[Entity]) -> None:
        """Write the entities in ``BatchWriteItem`` calls of up to 25 items (INSERTs or MODIFYs, like
        ``put``), retrying what DynamoDB leaves unprocessed."""
        # One request per key (BatchWriteItem refuses a key twice); the last write of a key wins, as puts do.
        unique = list({json.dumps(e.key(), sort_keys=True): e for e in entities}.values())
        for start in range(0, len(unique), BATCH_WRITE_ITEMS):
            batch = unique[start : start + BATCH_WRITE_ITEMS]
            puts = [{"PutRequest": {"Item": entity.to_item()}} for entity in batch]
            requests: Any = {self.resources.table_name: puts}
            for _ in range(BATCH_WRITE_ATTEMPTS):
                requests = self.clients.dynamodb.batch_write_item(RequestItems=requests).get(
                    "UnprocessedItems"
                )
                if not requests:
                    break
            else:
                raise RuntimeError(
                    f"BatchWriteItem left items of {self.resources.table_name} unprocessed after "
                    f"{BATCH_WRITE_ATTEMPTS} attempts: {requests}"
                )

    @staticmethod
    def _receipt_entities(spec: ReceiptSpec) -> list[Entity]:
        return receipt_entities(
            image_id=spec.image_id,
            receipt_id=spec.receipt_id,
            lines=spec.lines,
            merchant_name=spec.merchant_name,
        )

    def produce_delta(
        self, key: ReceiptKey, run_id: str, layout: DeltaLayout = "tarball"
    ) -> tuple[ReceiptState, CompactionRun]:
        """Embed the receipt's current state into a delta and write its PENDING CompactionRun, as the
        embedding producer does; returns the state embedded and the run."""
        state = load_receipt_state(self.clients.dynamodb, self.resources.table_name, key)
        return state, self._produce(state, run_id, layout)

    def _produce(self, state: ReceiptState, run_id: str, layout: DeltaLayout) -> CompactionRun:
        return produce_delta(
            state,
            run_id=run_id,
            clients=self.clients,
            table_name=self.resources.table_name,
            bucket=self.resources.bucket,
            embedder=self.embedder,
            layout=layout,
        )

    # -- draining -----------------------------------------------------------------------------------------

    @traced_drain
    def drain(
        self,
        *,
        max_invocations: int = MAX_INVOCATIONS,
        quiet_period: float | None = None,
        deadline: float | None = None,
    ) -> DrainReport:
        """Run the stream and both queues until nothing is in flight: no source has had anything for the
        quiet period, every shard is caught up and the queues are empty. Returns what happened; raises
        ``DrainDeadlineExceeded`` at the deadline. ``quiet_period`` and ``deadline`` override the pipeline's
        for this drain."""
        # A DLQ is read only for a queue whose source has given a message back: before that SQS cannot have
        # moved one there. A queue that gives back its first message during this drain is read just then.
        self._dlq_before = {
            collection: self._queue_depth(self.resources.dlq_urls[collection])
            for collection, queue in zip(COLLECTIONS, self._queues, strict=True)
            if queue.released
        }
        records_before = self._stream.records_read
        first_before = {queue.name: queue.first_deliveries for queue in self._queues}
        invocations: list[Invocation] = []
        started = time.monotonic()
        writes = self.last_writes = HandlerWrites(self.resources.bucket, self.resources.on_failure_url)
        with observe_handler_writes(writes):
            self._run_until_quiet(
                invocations,
                max_invocations=max_invocations,
                quiet_period=self.quiet_period if quiet_period is None else quiet_period,
                deadline=self.drain_deadline if deadline is None else deadline,
            )
        logger.debug(
            "drain: %d records, %d invocations in %.3f s",
            self._stream.records_read - records_before,
            len(invocations),
            time.monotonic() - started,
        )
        report = DrainReport(
            records=self._stream.records_read - records_before,
            messages=sum(queue.first_deliveries - first_before[queue.name] for queue in self._queues),
            messages_by_collection={q.name: q.first_deliveries - first_before[q.name] for q in self._queues},
            invocations=tuple(invocations),
            batch_item_failures=tuple(f for invocation in invocations for f in invocation.failures),
            dlq_arrivals={
                c: self._queue_depth(self.resources.dlq_urls[c]) - self._dlq_before[c]
                if c in self._dlq_before
                else 0
                for c in COLLECTIONS
            },
            # One message per record, from the event source (retries exhausted) or the stream handler (a
            # record that can never be sent): both are the stream's on-failure destination.
            on_failure_arrivals=writes.on_failure_messages,
            published_versions={c: writes.published_versions(c) for c in COLLECTIONS},
        )
        self.reports.append(report)
        return report

    def _run_until_quiet(
        self, invocations: list[Invocation], *, max_invocations: int, quiet_period: float, deadline: float
    ) -> None:
        started = last_activity = time.monotonic()
        pauses = _idle_pauses()
        self._stream.restart_quiet()
        self._to_poll = {queue.queue_url for queue in self._queues}  # sent to since the last drain?
        self._sends_seen = {}
        while True:
            active = self._pass(invocations, max_invocations)
            now = time.monotonic()
            if active:
                last_activity, pauses = now, _idle_pauses()
            elif now - last_activity >= quiet_period and self._settled():
                return
            if now - started >= deadline:
                raise DrainDeadlineExceeded(
                    self._deadline_message(
                        deadline=deadline,
                        quiet_period=quiet_period,
                        invocations=len(invocations),
                        idle_for=now - last_activity,
                    )
                )
            if not active:
                time.sleep(min(next(pauses), max(0.0, started + deadline - now)))

    def _pass(self, invocations: list[Invocation], max_invocations: int) -> bool:
        """Read the stream once and run every source until it has nothing; True if anything happened.

        A queue is received from only when something may have reached it since it last answered empty: at
        the start of a drain, after SQS accepted a handler's message for it, and after the settling check
        found messages on it (a receive that missed them, or messages not visible yet)."""
        arrived = self._stream.read()
        progressed = self._run(self._stream.invoke_once, invocations, max_invocations)
        for queue in self._queues:
            sent = self.last_writes.messages_sent[queue.queue_url]
            if queue.queue_url in self._to_poll or sent != self._sends_seen.get(queue.queue_url, 0):
                self._to_poll.discard(queue.queue_url)
                self._sends_seen[queue.queue_url] = sent
                progressed |= self._run(queue.invoke_once, invocations, max_invocations)
        return bool(arrived) or progressed

    def _settled(self) -> bool:
        if not self._stream.caught_up():
            return False
        if self._stream.in_flight():
            return False
        busy = {queue.queue_url for queue in self._queues if queue.in_flight()}
        self._to_poll |= busy
        return not busy

    def _deadline_message(
        self, *, deadline: float, quiet_period: float, invocations: int, idle_for: float
    ) -> str:
        lines = self._stream.lag() + [line for queue in self._queues for line in queue.lag()]
        if not lines:
            lines = [f"nothing is pending now, but the sources had work until {idle_for:.2f} s ago"]
        in_flight = "\n".join(f"  - {line}" for line in lines)
        return (
            f"drain() still had work in flight at its deadline of {deadline:g} s ({invocations} invocations, "
            f"last activity {idle_for:.2f} s ago, quiet period {quiet_period:g} s):\n{in_flight}\n"
            "A slow backend needs a longer deadline: --receipt-compaction-drain-deadline=SECONDS (or "
            "LocalPipeline(drain_deadline=...)); a source that never runs dry is a loop to fix."
        )

    def _run(self, step: Any, invocations: list[Invocation], limit: int) -> bool:
        progressed = False
        while (invocation := step()) is not None:
            invocations.append(invocation)
            if self.on_invocation is not None:
                self.on_invocation(invocation)
            progressed = True
            if len(invocations) > limit:
                raise DrainStuck(f"drain() made {limit} invocations without running dry: {invocation}")
        return progressed

    def expire_leases(self) -> None:
        """What time does to the leases of a compactor that died holding them (they run out)."""
        for collection in COLLECTIONS:
            expire_lease(self.clients.dynamodb, self.resources.table_name, collection)

    def _in_flight(self) -> bool:
        return self._stream.in_flight() or any(queue.in_flight() for queue in self._queues)

    # -- reading ------------------------------------------------------------------------------------------

    def latest_snapshot(
        self, collection: CollectionName, *, reuse: SnapshotView | None = None
    ) -> SnapshotView:
        """Download the version the pointer names into a fresh directory, checking every sha256; when the
        pointer still names ``reuse``'s version, return ``reuse`` instead (one read of the pointer)."""
        store = self._store(collection)
        pointer = store.read_pointer()
        if pointer is None:
            raise LookupError(
                f"no {collection!r} snapshot has been published in s3://{self.resources.bucket}"
            )
        if reuse is not None and (reuse.collection, reuse.version_id) == (collection, pointer.version_id):
            return reuse
        target = self.resources.work_dir / f"snapshot-{collection}-{uuid.uuid4().hex[:8]}"
        store.restore(pointer.version_id, target)
        return SnapshotView(collection, pointer.version_id, target)

    # -- internals ----------------------------------------------------------------------------------------

    def _store(self, collection: str) -> SnapshotStore:
        return SnapshotStore(self.clients.s3, self.resources.bucket, collection)

    def _queue_depth(self, url: str) -> int:
        attributes = self.clients.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def _send_to_on_failure(self, records: list[dict[str, Any]], reason: str) -> None:
        emit("on_failure", records=records, reason=reason)
        for record in records:
            self.clients.sqs.send_message(
                QueueUrl=self.resources.on_failure_url, MessageBody=failure_message([record], reason)
            )
            self.last_writes.count_on_failure(1)

    def _first_release(self, collection: CollectionName) -> None:
        """A queue source is about to give back its first message: its DLQ cannot have changed before."""
        self._dlq_before.setdefault(collection, self._queue_depth(self.resources.dlq_urls[collection]))


def _idle_pauses() -> Iterator[float]:
    yield 0.0
    pause = FIRST_IDLE_PAUSE
    while True:
        yield pause
        pause = min(2 * pause, MAX_IDLE_PAUSE)
