"""A small world for compaction tests: a real table, bucket and Chroma directory, and helpers to change
DynamoDB, turn the change into the SQS messages the stream stage would send, and compact them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from receipt_compaction.aws import AwsClients
from receipt_compaction.chroma_ids import CollectionName
from receipt_compaction.chroma_store import get_all, open_chroma, open_collection
from receipt_compaction.compaction import CompactionMessage, CompactionResult, compact, parse_sqs_record
from receipt_compaction.contract import QueueMessage
from receipt_compaction.embedding import DeltaLayout, HashEmbedder, embed_receipts, produce_delta
from receipt_compaction.entities import CompactionRun, Entity
from receipt_compaction.harness import receipt_entities
from receipt_compaction.state import ReceiptKey, ReceiptState, load_receipt_state
from receipt_compaction.stream import ParsedRecord, build_messages, parse_record
from tests.support.records import stream_record

_message_ids = itertools.count(1)


def sqs_record(queue_message: QueueMessage, message_id: str | None = None) -> dict[str, Any]:
    """The record AWS Lambda receives from an SQS event source for this message."""
    attributes = {
        name: {"stringValue": value["StringValue"], "dataType": "String"}
        for name, value in queue_message.attributes().items()
    }
    return {
        "messageId": message_id or f"msg-{next(_message_ids)}",
        "receiptHandle": "handle",
        "body": queue_message.message.body(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attributes,
        "eventSource": "aws:sqs",
    }


@dataclass
class World:
    clients: AwsClients
    table: str
    bucket: str
    chroma_dir: Path
    embedder: HashEmbedder = field(default_factory=lambda: HashEmbedder(8))

    def put(self, *entities: Entity) -> None:
        for entity in entities:
            self.clients.dynamodb.put_item(TableName=self.table, Item=entity.to_item())  # type: ignore[arg-type]

    def delete(self, *entities: Entity) -> None:
        for entity in entities:
            self.clients.dynamodb.delete_item(TableName=self.table, Key=entity.key())  # type: ignore[arg-type]

    def state(self, image_id: str, receipt_id: int) -> ReceiptState:
        return load_receipt_state(self.clients.dynamodb, self.table, ReceiptKey(image_id, receipt_id))

    def seed(
        self, image_id: str, receipt_id: int, lines: list[list[str]], merchant_name: str | None = None
    ) -> ReceiptState:
        """Write the receipt's items and embed its lines and words into the working directory."""
        self.put(
            *receipt_entities(
                image_id=image_id, receipt_id=receipt_id, lines=lines, merchant_name=merchant_name
            )
        )
        state = self.state(image_id, receipt_id)
        embed_receipts(self.chroma_dir, [state], embedder=self.embedder)
        return state

    def messages(
        self, event_name: str, *, old: Entity | None = None, new: Entity | None = None
    ) -> list[CompactionMessage]:
        """The compaction messages the stream stage sends for this change (one per collection)."""
        parsed = parse_record(stream_record(event_name, old=old, new=new, region=self.clients.region))
        assert isinstance(parsed, ParsedRecord)
        built = build_messages(parsed, timestamp="2026-01-01T00:00:00+00:00")
        return [parse_sqs_record(sqs_record(queue_message)) for queue_message in built]

    def change(
        self, event_name: str, *, old: Entity | None = None, new: Entity | None = None
    ) -> list[CompactionMessage]:
        """Apply the change to DynamoDB and return its messages."""
        if new is not None:
            self.put(new)
        elif old is not None:
            self.delete(old)
        return self.messages(event_name, old=old, new=new)

    def produce(self, state: ReceiptState, run_id: str, layout: DeltaLayout = "tarball") -> CompactionRun:
        """Upload deltas of ``state`` and write its CompactionRun (as a producer would)."""
        return produce_delta(
            state,
            run_id=run_id,
            clients=self.clients,
            table_name=self.table,
            bucket=self.bucket,
            embedder=self.embedder,
            layout=layout,
        )

    def compact(self, messages: list[CompactionMessage], collection: CollectionName) -> CompactionResult:
        mine = [message for message in messages if message.collection == collection]
        return compact(
            mine,
            collection=collection,
            chroma_dir=self.chroma_dir,
            clients=self.clients,
            table_name=self.table,
            bucket=self.bucket,
        )

    def compact_all(self, messages: list[CompactionMessage]) -> dict[CollectionName, CompactionResult]:
        return {collection: self.compact(messages, collection) for collection in ("lines", "words")}

    def records(self, collection: CollectionName) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every embedding in the collection: id -> (document, metadata)."""
        with open_chroma(self.chroma_dir) as client:
            found = get_all(open_collection(client, collection), include=["documents", "metadatas"])
        return dict(zip(found["ids"], zip(found["documents"], found["metadatas"], strict=True), strict=True))

    def metadata(self, collection: CollectionName, embedding_id: str) -> dict[str, Any]:
        return self.records(collection)[embedding_id][1]
