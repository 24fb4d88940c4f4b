"""The Scale section's world: a words collection of M embeddings built with real chromadb, and the two-receipt
metadata change compacted into it.

The collection holds receipts of 50 words (5 lines of 10), each word with the metadata the seeding path
gives it (``desired_embeddings``) and a random vector; it is written in add() batches of chromadb's largest
size, and built once per (size, dimension) into a cache directory the run reuses. The table holds only the
two changed receipts: reconciling reads each touched receipt with one Query, which on DynamoDB costs the
same whatever the table holds, while moto's Query scans the whole table (benchmarks P3); a full table would
make moto, not the compactor, grow with M.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.compaction_grid import WORDS_PER_RECEIPT, queue_message_for, write_entities
from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.compaction import CompactionMessage, parse_sqs_record
from receipt_compaction.embedding.metadata import desired_embeddings
from receipt_compaction.entities import Entity, ReceiptMetadata
from receipt_compaction.harness import create_table, receipt_entities
from receipt_compaction.state import ReceiptKey, ReceiptState

if TYPE_CHECKING:
    from pathlib import Path

    from chromadb.api.models.Collection import Collection

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.embedding.metadata import DesiredEmbedding

__all__ = ["BuiltCollection", "build_collection", "change_messages", "changed_receipts", "seed_change_table"]

MERCHANT = "Shop"
RENAMED = "Shop Two"


@dataclass(frozen=True)
class BuiltCollection:
    directory: Path
    words: int
    dimension: int
    seconds: float
    """How long the build took (read back from the marker when the cached directory is reused)."""
    cached: bool = False


def build_collection(cache: Path, *, words: int, dimension: int) -> BuiltCollection:
    """The collection of ``words`` words at ``dimension``, built into ``cache`` unless already there."""
    directory = cache / f"words-{words}-dim{dimension}"
    done = cache / f"words-{words}-dim{dimension}.built"  # beside it: a publish takes every file inside
    if done.exists():
        return BuiltCollection(directory, words, dimension, float(done.read_text()), cached=True)
    shutil.rmtree(directory, ignore_errors=True)  # a build that did not finish
    started = time.perf_counter()
    rng = np.random.default_rng(words)
    with open_chroma(directory) as client:
        collection = open_collection(client, "words")
        batch = client.get_max_batch_size()
        pending: list[DesiredEmbedding] = []
        for receipt_id in range(1, _receipts(words) + 1):
            pending += desired_embeddings(_state(receipt_id), "words").values()
            if len(pending) >= batch:
                _add(collection, pending[:batch], rng, dimension)
                pending = pending[batch:]
        if pending:
            _add(collection, pending, rng, dimension)
    seconds = time.perf_counter() - started
    done.write_text(f"{seconds}\n")
    return BuiltCollection(directory, words, dimension, seconds)


def changed_receipts(words: int) -> list[int]:
    """The two receipts the change touches: a third and two thirds into the collection, so their rows sit
    in different parts of the SQLite file, as two receipts of a real day's change would."""
    receipts = _receipts(words)
    return sorted({max(1, receipts // 3), max(1, 2 * receipts // 3 + 1)})


def seed_change_table(clients: AwsClients, words: int) -> str:
    """A table holding the changed receipts as they are after the change (their merchant renamed)."""
    table = f"scale-{uuid.uuid4().hex[:8]}"
    create_table(clients.dynamodb, table)
    entities: list[Entity] = []
    for receipt_id in changed_receipts(words):
        entities += _entities(receipt_id)
        entities.append(
            ReceiptMetadata(image_id=_image_id(receipt_id), receipt_id=receipt_id, merchant_name=RENAMED)
        )
    write_entities(clients, table, entities)
    return table


def change_messages(words: int) -> list[CompactionMessage]:
    """The words-queue messages of the two merchant renames, as the compaction handler parses them."""
    messages = []
    for n, receipt_id in enumerate(changed_receipts(words)):
        entity = ReceiptMetadata(image_id=_image_id(receipt_id), receipt_id=receipt_id, merchant_name=RENAMED)
        queued = queue_message_for(entity, n)
        attributes = {k: {"stringValue": v["StringValue"]} for k, v in queued.attributes().items()}
        messages.append(
            parse_sqs_record(
                {"messageId": f"m{n}", "body": queued.message.body(), "messageAttributes": attributes}
            )
        )
    return messages


def _add(
    collection: Collection, chunk: list[DesiredEmbedding], rng: np.random.Generator, dimension: int
) -> None:
    collection.add(
        ids=[embedding.id for embedding in chunk],
        embeddings=rng.standard_normal((len(chunk), dimension)).astype(np.float32),
        documents=[embedding.document for embedding in chunk],
        metadatas=[embedding.metadata for embedding in chunk],  # type: ignore[misc]
    )


def _receipts(words: int) -> int:
    return max(1, words // WORDS_PER_RECEIPT)


def _image_id(receipt_id: int) -> str:
    return str(uuid.UUID(int=receipt_id))


def _entities(receipt_id: int) -> list[Entity]:
    lines = [
        [f"w{receipt_id}-{line}-{word}" for word in range(10)] for line in range(WORDS_PER_RECEIPT // 10)
    ]
    return receipt_entities(
        image_id=_image_id(receipt_id), receipt_id=receipt_id, lines=lines, merchant_name=MERCHANT
    )


def _state(receipt_id: int) -> ReceiptState:
    return ReceiptState.from_entities(ReceiptKey(_image_id(receipt_id), receipt_id), _entities(receipt_id))
