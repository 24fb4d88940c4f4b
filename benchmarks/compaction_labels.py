"""P3 (first cut): N label messages reconciled into a collection of M words, against the bare chromadb
``get``/``update`` calls the compactor issues for them.

    python -m benchmarks.compaction_labels [--words 5000] [--messages 1000] [--repeat 3]

Runs on the embedded moto backend; prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pytest_receipt_compaction.executors import MotoServerExecutor
from receipt_compaction.aws import AwsClients
from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.chroma_store import batched, open_chroma, open_collection
from receipt_compaction.compaction import CompactionMessage, compact, parse_sqs_record
from receipt_compaction.compaction.reconcile import metadata_patch
from receipt_compaction.embedding import HashEmbedder, desired_embeddings, embed_receipts
from receipt_compaction.entities import Entity, ReceiptWordLabel
from receipt_compaction.local import create_table, receipt_entities
from receipt_compaction.messages import QueueMessage, StreamMessage
from receipt_compaction.state import ReceiptKey, ReceiptState

WORDS_PER_RECEIPT = 50


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dimension", type=int, default=16)
    args = parser.parse_args()
    with MotoServerExecutor(region="us-east-1") as backend, tempfile.TemporaryDirectory() as scratch:
        clients = AwsClients.connect(**backend.client_kwargs())
        run(
            clients,
            Path(scratch),
            words=args.words,
            count=args.messages,
            repeat=args.repeat,
            dimension=args.dimension,
        )


def run(clients: AwsClients, scratch: Path, *, words: int, count: int, repeat: int, dimension: int) -> None:
    table = f"bench-{uuid.uuid4().hex[:8]}"
    create_table(clients.dynamodb, table)
    receipts = max(1, words // WORDS_PER_RECEIPT)
    # One receipt per image, as in production (an image partition holds a few receipts at most).
    image_ids = {receipt_id: str(uuid.UUID(int=receipt_id)) for receipt_id in range(1, receipts + 1)}
    entities: list[Entity] = []
    for receipt_id, image_id in image_ids.items():
        lines = [
            [f"w{receipt_id}-{line}-{word}" for word in range(10)] for line in range(WORDS_PER_RECEIPT // 10)
        ]
        entities += receipt_entities(
            image_id=image_id, receipt_id=receipt_id, lines=lines, merchant_name="Shop"
        )
    base = scratch / "base"
    states = [ReceiptState.from_entities(ReceiptKey(i, r), entities) for r, i in image_ids.items()]
    started = time.perf_counter()
    embed_receipts(base, states, embedder=HashEmbedder(dimension), collections=["words"])
    print(f"seeded {receipts * WORDS_PER_RECEIPT} words in {time.perf_counter() - started:.1f} s")
    labels = _labels(image_ids, count)
    _write(clients, table, entities + labels)
    messages = [_message(label, n) for n, label in enumerate(labels)]

    compactor, bare, queries = [], [], []
    for attempt in range(repeat):
        work = scratch / f"compact-{attempt}"
        shutil.copytree(base, work)
        started = time.perf_counter()
        result = compact(
            messages, collection="words", chroma_dir=work, clients=clients, table_name=table, bucket="-"
        )
        compactor.append(time.perf_counter() - started)
        assert result.failed_message_ids == [], result.failed_message_ids
        assert result.updated == count, result.updated
        work = scratch / f"bare-{attempt}"
        shutil.copytree(base, work)
        bare.append(_bare_calls(work, labels, entities))
        queries.append(_bare_queries(clients, table, labels))
    c, b, q = statistics.median(compactor), statistics.median(bare), statistics.median(queries)
    print(f"compact(): {count} label messages into {receipts * WORDS_PER_RECEIPT} words: median {c:.2f} s")
    print(f"  bare chromadb get+update of the same embeddings: median {b:.2f} s (ratio {c / b:.1f}x)")
    print(f"  bare boto3 Query of the same receipts (backend time): median {q:.2f} s")
    print(f"  compact() / (bare chromadb + bare queries) = {c / (b + q):.2f}x")


def _labels(image_ids: dict[int, str], count: int) -> list[ReceiptWordLabel]:
    labels = []
    for n in range(count):
        receipt_id = n % len(image_ids) + 1
        receipts = len(image_ids)
        image_id = image_ids[receipt_id]
        slot = n // receipts
        line_id, word_id = slot // 10 + 1, slot % 10 + 1
        labels.append(
            ReceiptWordLabel(
                image_id=image_id,
                receipt_id=receipt_id,
                line_id=line_id,
                word_id=word_id,
                label="TOTAL",
                validation_status="VALID",
            )
        )
    return labels


def _write(clients: AwsClients, table: str, entities: list[Entity]) -> None:
    for chunk in batched(entities, 25):
        requests: Any = [{"PutRequest": {"Item": entity.to_item()}} for entity in chunk]
        clients.dynamodb.batch_write_item(RequestItems={table: requests})


def _message(label: ReceiptWordLabel, n: int) -> CompactionMessage:
    queue_message = QueueMessage(
        collection="words",
        message=StreamMessage(
            entity_type=label.ENTITY_TYPE,
            entity_data=label.entity_data("words"),
            changes={},
            event_name="INSERT",
            timestamp="2026-01-01T00:00:00+00:00",
            stream_record_id=f"e{n}",
            aws_region="us-east-1",
        ),
    )
    attributes = {k: {"stringValue": v["StringValue"]} for k, v in queue_message.attributes().items()}
    return parse_sqs_record(
        {"messageId": f"m{n}", "body": queue_message.message.body(), "messageAttributes": attributes}
    )


def _bare_calls(path: Path, labels: list[ReceiptWordLabel], entities: list[Entity]) -> float:
    """The same gets (one per receipt, by id) and the same update payloads, with nothing around them."""
    by_receipt: dict[ReceiptKey, list[str]] = {}
    for label in labels:
        by_receipt.setdefault(ReceiptKey(label.image_id, label.receipt_id), []).append(
            word_embedding_id(label.image_id, label.receipt_id, label.line_id, label.word_id)
        )
    states = {key: ReceiptState.from_entities(key, [*entities, *labels]) for key in by_receipt}
    wanted = {i: e.metadata for s in states.values() for i, e in desired_embeddings(s, "words").items()}
    with open_chroma(path) as client:
        collection = open_collection(client, "words")
        started = time.perf_counter()
        patches: dict[str, Any] = {}
        for ids in by_receipt.values():
            page = collection.get(ids=sorted(ids), include=["metadatas"])
            for embedding_id, metadata in zip(page["ids"], page["metadatas"] or [], strict=True):
                patches[embedding_id] = metadata_patch(metadata, wanted[embedding_id])
        for ids in batched(sorted(patches)):
            collection.update(ids=list(ids), metadatas=[patches[i] for i in ids])
        return time.perf_counter() - started


def _bare_queries(clients: AwsClients, table: str, labels: list[ReceiptWordLabel]) -> float:
    """The consistent Query per receipt that the compactor makes, without decoding anything."""
    receipts = sorted({(label.image_id, label.receipt_id) for label in labels})
    started = time.perf_counter()
    for image_id, receipt_id in receipts:
        pages = clients.dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues={
                ":pk": {"S": f"IMAGE#{image_id}"},
                ":sk": {"S": f"RECEIPT#{receipt_id:05d}"},
            },
            ConsistentRead=True,
        )
        for _ in pages:
            pass
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
