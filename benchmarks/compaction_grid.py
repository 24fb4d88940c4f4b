"""P3: N label and metadata messages reconciled into a collection of M words by ``compact()``, against the
bare chromadb calls it issues (recorded while it runs, replayed on a copy of the same collection), and
against those calls plus the DynamoDB reads it makes (the same Queries, recorded while it runs, issued bare
without decoding anything, one after another, whereas compact() reads up to 8 partitions at once: so
that ratio can fall below 1). Goal <= 1.3x against both. Reconciling reads one consistent Query per image
partition, however many of the image's receipts the batch touched; moto's Query scans the whole table, so
on moto that read grows with M, on DynamoDB Local (and DynamoDB) it does not: the grid runs on both lanes.

Four messages in five are label INSERTs (one word each), one in five a merchant change (every word of the
receipt). Receipts of 50 words; one receipt per image as in production, and, in the shared-image rows,
several receipts per image (a photo of several receipts).
"""

from __future__ import annotations

import shutil
import statistics
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks.raw_work import ChromaCall, record_chroma_calls, replay_chroma
from benchmarks.report import Row
from receipt_compaction.chroma_store import batched
from receipt_compaction.compaction import CompactionMessage, compact, parse_sqs_record
from receipt_compaction.contract import FieldChange, QueueMessage, StreamMessage
from receipt_compaction.embedding import HashEmbedder, embed_receipts
from receipt_compaction.entities import Entity, ReceiptMetadata, ReceiptWordLabel
from receipt_compaction.harness import create_table, receipt_entities
from receipt_compaction.harness.faults import events_of
from receipt_compaction.state import ReceiptKey, ReceiptState

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from receipt_compaction.aws import AwsClients

__all__ = [
    "World",
    "change_entities",
    "measure_compaction_grid",
    "queue_message_for",
    "seed_world",
    "write_entities",
]

GOAL = 1.3
WORDS_PER_RECEIPT = 50
METADATA_EVERY = 5
_CHROMA_METHODS = ("get", "update", "delete", "upsert")


@dataclass(frozen=True)
class World:
    table: str
    base: Path
    image_ids: dict[int, str]


def measure_compaction_grid(
    clients: AwsClients,
    scratch: Path,
    *,
    messages: list[int],
    words: list[int],
    repeat: int,
    dimension: int,
    lane: str,
    receipts_per_image: list[int] = [1],  # noqa: B006 - read only
) -> list[Row]:
    rows = []
    for size in words:
        for per_image in receipts_per_image:
            world = seed_world(
                clients, scratch / f"m{size}-{per_image}", size, dimension, receipts_per_image=per_image
            )
            for count in messages:
                rows += _measure_cell(clients, world, count, size, repeat, lane=lane, per_image=per_image)
    return rows


def seed_world(
    clients: AwsClients, scratch: Path, words: int, dimension: int, *, receipts_per_image: int = 1
) -> World:
    """A table holding ``words`` words in receipts of 50 (``receipts_per_image`` to an image), and a
    collection embedding all of them."""
    table = f"bench-{uuid.uuid4().hex[:8]}"
    create_table(clients.dynamodb, table)
    receipts = max(1, words // WORDS_PER_RECEIPT)
    image_ids = {
        receipt_id: str(uuid.UUID(int=(receipt_id - 1) // receipts_per_image + 1))
        for receipt_id in range(1, receipts + 1)
    }
    entities: list[Entity] = []
    for receipt_id, image_id in image_ids.items():
        lines = [
            [f"w{receipt_id}-{line}-{word}" for word in range(10)] for line in range(WORDS_PER_RECEIPT // 10)
        ]
        entities += receipt_entities(
            image_id=image_id, receipt_id=receipt_id, lines=lines, merchant_name="Shop"
        )
    states = [ReceiptState.from_entities(ReceiptKey(i, r), entities) for r, i in image_ids.items()]
    base = scratch / "base"
    embed_receipts(base, states, embedder=HashEmbedder(dimension), collections=["words"])
    write_entities(clients, table, entities)
    return World(table, base, image_ids)


def _measure_cell(
    clients: AwsClients, world: World, count: int, words: int, repeat: int, *, lane: str, per_image: int
) -> list[Row]:
    changes = change_entities(world.image_ids, count)
    write_entities(clients, world.table, changes)
    batch = [_message(entity, n) for n, entity in enumerate(changes)]
    receipts = sorted({(entity.image_id, entity.receipt_id) for entity in changes})
    ours, bare, reads = [], [], []
    for attempt in range(repeat):
        work = world.base.parent / f"compact-{count}-{attempt}"
        shutil.copytree(world.base, work)
        calls: list[ChromaCall] = []
        queries: list[dict[str, Any]] = []
        started = time.perf_counter()
        with record_chroma_calls(calls, _CHROMA_METHODS), _recording_queries(clients, queries):
            result = compact(
                batch,
                collection="words",
                chroma_dir=work,
                clients=clients,
                table_name=world.table,
                bucket="-",
            )
        ours.append(time.perf_counter() - started)
        if result.failed_message_ids:
            raise RuntimeError(f"compact() failed messages: {result.failed_message_ids[:5]}")
        replica = world.base.parent / f"bare-{count}-{attempt}"
        shutil.copytree(world.base, replica)
        started = time.perf_counter()
        replay_chroma(calls, replica)
        bare.append(time.perf_counter() - started)
        reads.append(_bare_queries(clients, queries))
        shutil.rmtree(work)
        shutil.rmtree(replica)
    compact_s, bare_s, read_s = (statistics.median(v) for v in (ours, bare, reads))
    images = len({image_id for image_id, _ in receipts})
    sharing = f", {per_image} receipts per image" if per_image > 1 else ""
    cell = f"[{lane}] compact() {count} messages into {words:,} words{sharing}"
    note = (
        f"{len(receipts)} receipts in {images} partitions: {len(queries)} DynamoDB Queries, "
        f"{len(calls)} chromadb calls"
    )
    return [
        Row("P3", cell, compact_s, "s", bare_s, "its chromadb calls, bare", goal=GOAL, note=note),
        Row(
            "P3",
            cell,
            compact_s,
            "s",
            bare_s + read_s,
            "its chromadb calls + its DynamoDB Queries, bare",
            goal=GOAL,
        ),
    ]


@contextmanager
def _recording_queries(clients: AwsClients, queries: list[dict[str, Any]]) -> Iterator[None]:
    """Record the parameters of every Query the client sends meanwhile (botocore's own event hook)."""

    def record(params: dict[str, Any], **_: Any) -> None:
        queries.append(dict(params))

    events = events_of(clients.dynamodb)
    events.register("provide-client-params.dynamodb.Query", record)
    try:
        yield
    finally:
        events.unregister("provide-client-params.dynamodb.Query", record)


def change_entities(image_ids: dict[int, str], count: int) -> list[Entity]:
    """Label INSERTs on successive words of successive receipts; every fifth a merchant change instead."""
    receipts = len(image_ids)
    changes: list[Entity] = []
    for n in range(count):
        receipt_id = n % receipts + 1
        key = {"image_id": image_ids[receipt_id], "receipt_id": receipt_id}
        if n % METADATA_EVERY == METADATA_EVERY - 1:
            changes.append(ReceiptMetadata(**key, merchant_name="Shop Two"))
            continue
        slot = (n // receipts) % WORDS_PER_RECEIPT
        changes.append(
            ReceiptWordLabel(
                **key, line_id=slot // 10 + 1, word_id=slot % 10 + 1, label="TOTAL", validation_status="VALID"
            )
        )
    return changes


def write_entities(clients: AwsClients, table: str, entities: list[Entity]) -> None:
    unique = {(entity.pk, entity.sk): entity for entity in entities}  # a batch may not name a key twice
    for chunk in batched(list(unique.values()), 25):
        requests: Any = [{"PutRequest": {"Item": entity.to_item()}} for entity in chunk]
        clients.dynamodb.batch_write_item(RequestItems={table: requests})


def _message(entity: Entity, n: int) -> CompactionMessage:
    queue_message = queue_message_for(entity, n)
    attributes = {k: {"stringValue": v["StringValue"]} for k, v in queue_message.attributes().items()}
    return parse_sqs_record(
        {"messageId": f"m{n}", "body": queue_message.message.body(), "messageAttributes": attributes}
    )


def queue_message_for(entity: Entity, n: int) -> QueueMessage:
    """The words-queue message the stream stage sends for this label INSERT or metadata MODIFY."""
    is_label = isinstance(entity, ReceiptWordLabel)
    changes = {} if is_label else {"merchant_name": FieldChange(old="Shop", new="Shop Two")}
    return QueueMessage(
        collection="words",
        message=StreamMessage(
            entity_type=entity.ENTITY_TYPE,
            entity_data=entity.entity_data("words"),
            changes=changes,
            event_name="INSERT" if is_label else "MODIFY",
            timestamp="2026-01-01T00:00:00+00:00",
            stream_record_id=f"e{n}",
            aws_region="us-east-1",
        ),
    )


def _bare_queries(clients: AwsClients, queries: list[dict[str, Any]]) -> float:
    """The Query requests reconciling sent (each page its own), sent again; nothing is decoded."""
    started = time.perf_counter()
    for params in queries:
        clients.dynamodb.query(**params)
    return time.perf_counter() - started
