"""P2: records per second through the stream stage's parse + change detection + message building (bodies
included), against bare ``TypeDeserializer`` decoding of both images of the same records. Goal <= 2x.

The records are the mix a labelling pass produces: label INSERTs, MODIFYs and REMOVEs, metadata MODIFYs
(one relevant, one not), and a word MODIFY that changes nothing Chroma holds.
"""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from benchmarks.harness import REGION
from benchmarks.report import Row
from receipt_compaction.entities import ReceiptMetadata, ReceiptWord, ReceiptWordLabel
from receipt_compaction.entities.base import forget_checked_values
from receipt_compaction.harness.lambda_events import stream_record
from receipt_compaction.stream import IgnoredRecord, build_messages, parse_record
from receipt_compaction.stream.parsing import forget_recognised_keys

if TYPE_CHECKING:
    from receipt_compaction.entities import Entity, EventName

__all__ = ["measure_stream_stage", "stream_records"]

GOAL = 2.0
_TIMESTAMP = "2026-01-01T00:00:00+00:00"


def measure_stream_stage(*, records: int, repeat: int) -> list[Row]:
    batch = stream_records(records)
    stage, bare = [], []
    for _ in range(repeat):  # interleaved, so both see the same noise from the shared machine
        _forget_keys()
        stage.append(_time(_stage, batch))
        bare.append(_time(_bare, batch))
    messages = _stage(batch)
    stage_s, bare_s = statistics.median(stage), statistics.median(bare)
    return [
        Row(
            "P2",
            f"stream stage: {len(batch):,} records -> {messages:,} messages",
            len(batch) / stage_s,
            "records/s",
            note=f"{stage_s:.3f} s",
        ),
        Row(
            "P2",
            "stream stage time per record",
            stage_s / len(batch) * 1e6,
            "µs",
            baseline=bare_s / len(batch) * 1e6,
            baseline_label="bare TypeDeserializer of both images",
            goal=GOAL,
        ),
    ]


def stream_records(count: int) -> list[dict[str, Any]]:
    """``count`` Lambda-shaped stream records of the mix described above."""
    sequence = itertools.count(1)
    made: list[dict[str, Any]] = []
    for receipt in itertools.count(1):
        image_id = str(uuid.UUID(int=receipt))
        key = {"image_id": image_id, "receipt_id": 1}
        label = ReceiptWordLabel(**key, line_id=1, word_id=2, label="TOTAL", validation_status="PENDING")
        valid = label.model_copy(update={"validation_status": "VALID", "reasoning": "matches the sum"})
        metadata = ReceiptMetadata(**key, merchant_name="Corner Shop", address="1 Main St")
        word = ReceiptWord(**key, line_id=1, word_id=2, text="4.20")
        made += [
            _record(sequence, "INSERT", None, label),
            _record(sequence, "MODIFY", label, valid),
            _record(sequence, "MODIFY", metadata, metadata.model_copy(update={"merchant_name": "Shop Inc"})),
            _record(sequence, "MODIFY", metadata, metadata.model_copy(update={"phone_number": "555"})),
            _record(sequence, "MODIFY", word, word),
            _record(sequence, "REMOVE", valid, None),
        ]
        if len(made) >= count:
            return made[:count]
    raise AssertionError("unreachable")


def _record(
    sequence: itertools.count[int], event: EventName, old: Entity | None, new: Entity | None
) -> dict[str, Any]:
    return stream_record(event, sequence_number=f"{next(sequence):021d}", region=REGION, old=old, new=new)


def _forget_keys() -> None:
    """Empty the key caches and the checked-values memo: each run must parse every key and check every
    distinct value at least once, as a fresh process would."""
    forget_checked_values()
    forget_recognised_keys()


def _time(work: Any, batch: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    work(batch)
    return time.perf_counter() - started


def _stage(batch: list[dict[str, Any]]) -> int:
    messages = 0
    for raw in batch:
        parsed = parse_record(raw)
        if isinstance(parsed, IgnoredRecord):
            continue
        for message in build_messages(parsed, timestamp=_TIMESTAMP):
            message.body()
            message.attributes()
            messages += 1
    return messages


def _bare(batch: list[dict[str, Any]]) -> int:
    deserializer = TypeDeserializer()
    decoded = 0
    for raw in batch:
        for name in ("OldImage", "NewImage"):
            image = raw["dynamodb"].get(name)
            if image is not None:
                {key: deserializer.deserialize(value) for key, value in image.items()}
                decoded += 1
    return decoded
