"""Issue 13: a fuzz of SQS bodies through the compaction handler's parsing boundary.

Batches mix valid messages (built from random entities, as the stream stage writes them) with hostile bodies
(deep nesting, huge integers, wrong types, unknown entities, huge strings, wrong collections, bodies that are
not strings). Whatever a batch holds, every good message is read exactly as if it had been alone, and can be
keyed by the compactor; every hostile one fails alone, with a reason. More than 10,000 bodies go through
``parse_sqs_records`` and the compactor's per-message keying; a smaller sample goes through the whole
compaction Lambda handler, which must fail exactly the hostile messages and apply every good one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.compaction import CompactionMessage, parse_sqs_records
from receipt_compaction.compaction.compactor import scope_of
from receipt_compaction.contract import QueueMessage, StreamMessage
from receipt_compaction.entities import ENTITY_CLASSES, CompactionRun, Entity, ReceiptWordLabel
from receipt_compaction.handlers import compaction
from receipt_compaction.harness import receipt_entities
from receipt_compaction.harness.backends import Backend
from receipt_compaction.snapshot import SnapshotStore
from tests.support.world import World, sqs_record

IMAGE = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
MESSAGE_ENTITIES = [entity_class for entity_class in ENTITY_CLASSES if entity_class.DIRTY_ON]

VALID_BODY: dict[str, Any] = {
    "source": "dynamodb_stream",
    "entity_type": "RECEIPT_WORD_LABEL",
    "entity_data": {"image_id": IMAGE, "receipt_id": 1, "line_id": 1, "word_id": 1, "label": "TOTAL"},
    "changes": {},
    "event_name": "MODIFY",
    "timestamp": "2026-01-01T00:00:00+00:00",
    "stream_record_id": "e1",
    "aws_region": "us-east-1",
}


def _with_data(**data: Any) -> str:
    return json.dumps({**VALID_BODY, "entity_data": {**VALID_BODY["entity_data"], **data}})


def _deep(size: int) -> str:
    return "[" * size + "]" * size


def _deep_in_entity_data(size: int) -> str:
    return _with_data(x="DEEP").replace('"DEEP"', _deep(size))


HOSTILE: dict[str, Any] = {
    "deep-array": lambda n: ("words", _deep(1_000 + n * 99)),
    "deep-object": lambda n: ("words", '{"a":' * (1_000 + n * 99) + "1" + "}" * (1_000 + n * 99)),
    "deep-in-entity-data": lambda n: ("words", _deep_in_entity_data(1_000 + n * 99)),
    "huge-int-body": lambda n: ("words", "7" * (4_301 + n)),
    "huge-int-id": lambda n: (
        "words",
        _with_data(receipt_id=0).replace('"receipt_id": 0', '"receipt_id": ' + "9" * (4_301 + n)),
    ),
    "id-beyond-five-digits": lambda n: ("words", _with_data(receipt_id=100_000 + n * 7919)),
    "negative-id": lambda n: ("words", _with_data(word_id=-1 - n)),
    "receipt-zero": lambda n: ("words", _with_data(receipt_id=0)),
    "id-as-string": lambda n: ("words", _with_data(line_id=str(n))),
    "id-as-float": lambda n: ("words", _with_data(line_id=n + 0.5)),
    "id-as-bool": lambda n: ("words", _with_data(line_id=True)),
    "entity-data-list": lambda n: ("words", json.dumps({**VALID_BODY, "entity_data": [n]})),
    "changes-list": lambda n: ("words", json.dumps({**VALID_BODY, "changes": [n]})),
    "unknown-entity": lambda n: ("words", json.dumps({**VALID_BODY, "entity_type": f"RECEIPT_SECTION_{n}"})),
    "huge-label": lambda n: ("words", _with_data(label="A" * (300 + n * 997))),
    "huge-unknown-field": lambda n: ("words", json.dumps({**VALID_BODY, "x": "y" * (n * 997)})),
    "lone-surrogate-label": lambda n: ("words", _with_data(label="\ud800")),
    "bad-image-id": lambda n: ("words", _with_data(image_id="x" * n)),
    "label-in-lines": lambda n: ("lines", _with_data()),
    "no-collection": lambda n: (None, _with_data()),
    "not-json": lambda n: ("words", "{not json" + "x" * n),
    "empty-body": lambda n: ("words", ""),
    "json-null": lambda n: ("words", "null"),
    "nan": lambda n: ("words", "NaN"),
    "body-not-a-string": lambda n: ("words", n),
}


def hostile_record(kind: str, n: int, message_id: str) -> dict[str, Any]:
    collection, body = HOSTILE[kind](n)
    attributes = (
        {} if collection is None else {"collection": {"stringValue": collection, "dataType": "String"}}
    )
    return {"messageId": message_id, "body": body, "messageAttributes": attributes}


def good_record(entity: Entity, collection_index: int, message_id: str) -> dict[str, Any]:
    collection = entity.COLLECTIONS[collection_index % len(entity.COLLECTIONS)]
    message = StreamMessage(
        entity_type=entity.ENTITY_TYPE,
        entity_data=entity.entity_data(collection),
        changes={},
        event_name=sorted(entity.DIRTY_ON)[0],
        timestamp="2026-01-01T00:00:00+00:00",
        stream_record_id=f"event-{message_id}",
        aws_region="us-east-1",
    )
    return sqs_record(QueueMessage(collection=collection, message=message), message_id)


ids = st.sampled_from([0, 1, 2, 42, 99_998, 99_999])
labels = st.sampled_from(["TOTAL", "PLACE_OF_BUSINESS", "A", "A" * 64, "B_2"])
run_ids = st.sampled_from(["run-1", "0c2f5d2e-8b6a-4c1d-9e3f-2a1b0c9d8e7f", "r" * 128, "LABEL", "A_b-9"])
image_ids = st.sampled_from([IMAGE, "00000000-0000-0000-0000-000000000000"])


@st.composite
def good_entities(draw: st.DrawFn) -> Entity:
    """A random entity that produces messages; few draws each, so ten thousand bodies stay fast."""
    entity_class = draw(st.sampled_from(MESSAGE_ENTITIES))
    fields: dict[str, Any] = {"image_id": draw(image_ids), "receipt_id": max(1, draw(ids))}
    if entity_class is ReceiptWordLabel:
        fields.update(line_id=draw(ids), word_id=draw(ids), label=draw(labels))
    elif entity_class is CompactionRun:
        fields.update(run_id=draw(run_ids))
    elif "line_id" in entity_class.model_fields:
        fields.update(line_id=draw(ids), text="t")
        if "word_id" in entity_class.model_fields:
            fields.update(word_id=draw(ids))
    return entity_class.model_validate(fields)


good_items = st.tuples(st.just("good"), good_entities(), st.integers(0, 1))
hostile_items = st.tuples(st.just("hostile"), st.sampled_from(sorted(HOSTILE)), st.integers(0, 300))
batches = st.lists(st.one_of(good_items, hostile_items), min_size=10, max_size=10)


def build(items: list[tuple[str, Any, int]]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    records, good, hostile = [], [], []
    for position, (kind, what, n) in enumerate(items):
        message_id = f"m-{position}"
        if kind == "good":
            records.append(good_record(what, n, message_id))
            good.append(message_id)
        else:
            records.append(hostile_record(what, n, message_id))
            hostile.append(message_id)
    return records, good, hostile


def compactor_keys(message: CompactionMessage) -> None:
    """What the compactor derives from a message before any I/O: its scope, and a run's key."""
    scope_of(message)
    if message.entity_class is CompactionRun:
        receipt = message.receipt
        CompactionRun(
            image_id=receipt.image_id, receipt_id=receipt.receipt_id, run_id=str(message.key["run_id"])
        )


def test_ten_thousand_bodies_every_good_message_is_read_as_if_alone() -> None:
    bodies: list[int] = []

    @settings(max_examples=1_050, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(items=batches)
    def check(items: list[tuple[str, Any, int]]) -> None:
        records, good, hostile = build(items)
        bodies.append(len(records))
        messages, failures = parse_sqs_records(records)
        assert [message.message_id for message in messages] == good
        assert [failure.message_id for failure in failures] == hostile
        assert all(failure.reason for failure in failures)
        by_id = {message.message_id: message for message in messages}
        for record in records:
            if record["messageId"] in by_id:
                (alone,), _ = parse_sqs_records([record])
                assert alone == by_id[record["messageId"]]
                compactor_keys(alone)

    check()
    assert sum(bodies) >= 10_000


def test_every_hostile_kind_fails_alone_at_its_largest() -> None:
    for kind in sorted(HOSTILE):
        first, second = (
            ReceiptWordLabel.model_validate({**VALID_BODY["entity_data"], "word_id": word_id})
            for word_id in (1, 2)
        )
        records = [good_record(first, 0, "good-1"), hostile_record(kind, 300, "poison")]
        records += [good_record(second, 0, "good-2")]
        messages, failures = parse_sqs_records(records)
        assert [m.message_id for m in messages] == ["good-1", "good-2"], kind
        assert [f.message_id for f in failures] == ["poison"], kind


# -- the whole compaction handler, on a smaller sample ----------------------------------------------------


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch, compaction_backend: Backend, world: World, tmp_path: Path
) -> None:
    environ = {
        **compaction_backend.environ(),
        "DYNAMODB_TABLE_NAME": world.table,
        "CHROMADB_BUCKET": world.bucket,
        "EFS_ROOT": str(tmp_path / "efs"),
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)


def published_labels(world: World, target: Path) -> dict[str, list[str]]:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    pointer = store.read_pointer()
    assert pointer is not None
    store.restore(pointer.version_id, target)
    records = World(world.clients, "", "", target).records("words")
    return {embedding_id: metadata.get("valid_labels", []) for embedding_id, (_, metadata) in records.items()}


@pytest.mark.usefixtures("lambda_env")
def test_the_compaction_handler_fails_exactly_the_hostile_messages_and_applies_the_rest(
    world: World, tmp_path: Path
) -> None:
    rng = random.Random(13)
    words = 6
    world.put(*receipt_entities(image_id=IMAGE, receipt_id=1, lines=[[f"W{n}" for n in range(1, words + 1)]]))
    run = world.produce(world.state(IMAGE, 1), "run-fuzz")
    expected: dict[str, list[str]] = {word_embedding_id(IMAGE, 1, 1, n): [] for n in range(1, words + 1)}
    for batch in range(4):
        records: list[dict[str, Any]] = []
        hostile: list[str] = []
        if batch == 0:
            records.append(good_record(run, 1, "run"))
        for n in rng.sample(range(1, words + 1), 3):
            name = f"L{batch}"
            label = ReceiptWordLabel(
                image_id=IMAGE, receipt_id=1, line_id=1, word_id=n, label=name, validation_status="VALID"
            )
            world.put(label)
            records.append(good_record(label, 0, f"label-{batch}-{n}"))
            expected[word_embedding_id(IMAGE, 1, 1, n)] = sorted(
                [*expected[word_embedding_id(IMAGE, 1, 1, n)], name]
            )
        for position, kind in enumerate(rng.sample(sorted(HOSTILE), 4)):
            message_id = f"poison-{batch}-{position}"
            records.insert(
                rng.randrange(len(records) + 1), hostile_record(kind, rng.randrange(300), message_id)
            )
            hostile.append(message_id)
        response = compaction.lambda_handler({"Records": records}, None)
        assert sorted(item["itemIdentifier"] for item in response["batchItemFailures"]) == sorted(hostile)
        assert published_labels(world, tmp_path / f"v{batch}") == expected
