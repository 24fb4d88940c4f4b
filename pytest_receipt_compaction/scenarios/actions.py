"""The stage vocabulary: each action is a name, a description, a JSON schema for its argument, and a
function that runs it. Other packages add actions through the ``pytest_receipt_compaction_stage_actions``
hook (see ``pytest_receipt_compaction/hookspecs.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pytest_receipt_compaction.faults import S3PointerConflicts, SqsBatchRewrite, SqsEntryFaults
from pytest_receipt_compaction.scenarios.context import ScenarioContext, StageFailure
from receipt_compaction.aws import handler_clients, sqs_client
from receipt_compaction.crashpoints import CRASH_POINTS, SimulatedCrash, at_point, crash_at
from receipt_compaction.embedding import produce_delta
from receipt_compaction.entities import (
    CompactionRun,
    Entity,
    Receipt,
    ReceiptLine,
    ReceiptMetadata,
    ReceiptWord,
    ReceiptWordLabel,
)
from receipt_compaction.keys import render_pk, render_sort_key
from receipt_compaction.snapshot import SnapshotStore
from receipt_compaction.state import load_receipt_state

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["BUILTIN_ACTIONS", "StageAction"]

ENTITY_KINDS: dict[str, type[Entity]] = {
    "receipt": Receipt,
    "line": ReceiptLine,
    "word": ReceiptWord,
    "metadata": ReceiptMetadata,
    "label": ReceiptWordLabel,
    "run": CompactionRun,
}
COLLECTION = {"enum": ["lines", "words"]}
REFS = {"type": "array", "items": {"type": "string", "pattern": "^[^/]+/[0-9]+(/[0-9]+)?$"}}


@dataclass(frozen=True)
class StageAction:
    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[ScenarioContext, Any], None]


# -- writing ------------------------------------------------------------------------------------------------

ENTITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["entity", "receipt"],
    "properties": {"entity": {"enum": sorted(ENTITY_KINDS)}, "receipt": {"type": "string"}},
}


def _fields(context: ScenarioContext, arguments: Mapping[str, Any]) -> tuple[type[Entity], dict[str, Any]]:
    key = context.receipt(arguments["receipt"])
    fields = {name: value for name, value in arguments.items() if name not in ("entity", "receipt")}
    return ENTITY_KINDS[arguments["entity"]], {
        "image_id": key.image_id,
        "receipt_id": key.receipt_id,
        **fields,
    }


def _build(entity_class: type[Entity], fields: dict[str, Any]) -> Entity:
    try:
        return entity_class.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise StageFailure(f"not a valid {entity_class.__name__}: {problems}") from None


def _current(context: ScenarioContext, entity_class: type[Entity], fields: dict[str, Any]) -> Entity | None:
    key = _key(entity_class, fields)
    item = context.pipeline.clients.dynamodb.get_item(
        TableName=context.pipeline.resources.table_name, Key=key, ConsistentRead=True
    ).get("Item")
    return entity_class.from_item(item) if item else None


def _key(entity_class: type[Entity], fields: dict[str, Any]) -> Any:
    try:
        sk = render_sort_key(entity_class.SORT_KEY, fields)
    except KeyError as missing:
        raise StageFailure(f"a {entity_class.__name__} key needs {missing}") from None
    return {"PK": {"S": render_pk(fields["image_id"])}, "SK": {"S": sk}}


def run_put(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    context.pipeline.put(_build(*_fields(context, arguments)))


def run_update(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    entity_class, fields = _fields(context, arguments)
    current = _current(context, entity_class, fields)
    if current is None:
        raise StageFailure(f"there is no {entity_class.__name__} with that key to update")
    context.pipeline.put(_build(entity_class, {**current.model_dump(), **fields}))


def run_delete(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    entity_class, fields = _fields(context, arguments)
    context.pipeline.clients.dynamodb.delete_item(
        TableName=context.pipeline.resources.table_name, Key=_key(entity_class, fields)
    )


def run_compaction_run(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    key = context.receipt(arguments["receipt"])
    alias = arguments.get("run", f"run-{len(context.runs) + 1}")
    pipeline = context.pipeline
    state = load_receipt_state(pipeline.clients.dynamodb, pipeline.resources.table_name, key)
    context.runs[alias] = produce_delta(
        state,
        run_id=f"{alias}-{len(context.runs) + 1}",
        clients=pipeline.clients,
        table_name=pipeline.resources.table_name,
        bucket=pipeline.resources.bucket,
        embedder=pipeline.embedder,
        layout=arguments.get("layout", "tarball"),
    )


def run_send_message(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    """Put a raw message on a collection's queue, as a misbehaving producer would."""
    collection = arguments["collection"]
    context.pipeline.clients.sqs.send_message(
        QueueUrl=context.pipeline.resources.queue_urls[collection],
        MessageBody=arguments["body"],
        MessageAttributes={"collection": {"DataType": "String", "StringValue": collection}},
    )


# -- draining and faults ------------------------------------------------------------------------------------


def run_drain(context: ScenarioContext, arguments: Any) -> None:
    del arguments
    context.pointers_before_drain = {c: _pointer(context, c) for c in ("lines", "words")}
    context.crashed = None
    with context.armed():
        try:
            context.last_report = context.pipeline.drain()
        except SimulatedCrash as crash:
            # The compactor process died: its messages come back (the queue source released them) and its
            # lease runs out; the scenario goes on as AWS would after the visibility timeout.
            context.crashed = str(crash)
            context.last_report = None
    if context.crashed:
        context.pipeline.expire_leases()


def run_fault(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    region = context.pipeline.resources.region
    if "crash_at" in arguments:
        context.arm(crash_at(arguments["crash_at"]))
    if "sqs_send_failure" in arguments:
        options = arguments["sqs_send_failure"]
        first, times = options.get("call", 1), options.get("times", 4)
        failing = {call: set(range(10)) for call in range(first, first + times)}
        context.arm(SqsEntryFaults(sqs_client(region), calls=failing))
    if "pointer_conflict" in arguments:
        options = arguments["pointer_conflict"]
        status, times, nth = options.get("status", 412), options.get("times", 1), options.get("nth", 1)
        context.arm(S3PointerConflicts(handler_clients(region).s3, status=status, times=times, skip=nth - 1))
    if arguments.get("lease_loss"):
        context.arm(at_point("after_manifest", _once(context.pipeline.expire_leases)))
    if arguments.get("duplicate_delivery") or arguments.get("reordered_delivery"):
        rewrite = SqsBatchRewrite(
            sqs_client(region),
            duplicate=bool(arguments.get("duplicate_delivery")),
            reverse=bool(arguments.get("reordered_delivery")),
        )
        context.arm(rewrite)


def _once(action: Callable[[], None]) -> Callable[[], None]:
    done: list[bool] = []

    def run() -> None:
        if not done:
            done.append(True)
            action()

    return run


def _pointer(context: ScenarioContext, collection: str) -> str | None:
    pointer = SnapshotStore(
        context.pipeline.clients.s3, context.pipeline.resources.bucket, collection
    ).read_pointer()
    return pointer.version_id if pointer else None


# -- expectations -------------------------------------------------------------------------------------------


def run_expect_snapshot(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    collection = arguments["collection"]
    if "version" in arguments:
        _expect_version(context, collection, arguments["version"])
    snapshot = context.pipeline.latest_snapshot(collection)
    ids = [context.embedding_id(reference) for reference in arguments.get("ids", [])]
    where = _where(context, arguments)
    found = snapshot.get(ids=ids or None, where=where)
    if ids:
        missing = sorted(set(ids) - set(found["ids"]))
        if missing:
            raise StageFailure(
                f"{len(missing)} id(s) missing from {collection}", expected=ids, actual=found["ids"]
            )
    if "count" in arguments and len(found["ids"]) != arguments["count"]:
        raise StageFailure(
            f"wrong number of {collection} records", expected=arguments["count"], actual=len(found["ids"])
        )
    for embedding_id, metadata in zip(found["ids"], found["metadatas"], strict=True):
        _expect_metadata(embedding_id, metadata or {}, arguments.get("metadata", {}))
    absent = [context.embedding_id(reference) for reference in arguments.get("absent", [])]
    present = snapshot.get(ids=absent)["ids"] if absent else []
    if present:
        raise StageFailure(f"ids that should be gone are still in {collection}", expected=[], actual=present)


def _where(context: ScenarioContext, arguments: Mapping[str, Any]) -> dict[str, Any] | None:
    conditions = [dict(arguments["where"])] if arguments.get("where") else []
    if "receipt" in arguments:
        key = context.receipt(arguments["receipt"])
        conditions += [{"image_id": key.image_id}, {"receipt_id": key.receipt_id}]
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _expect_metadata(embedding_id: str, actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    differing = {name: actual.get(name) for name, value in expected.items() if actual.get(name) != value}
    if differing:
        wanted = {name: expected[name] for name in differing}
        raise StageFailure(f"metadata of {embedding_id} differs", expected=wanted, actual=differing)


def _expect_version(context: ScenarioContext, collection: str, expectation: str) -> None:
    before, now = context.pointers_before_drain.get(collection), _pointer(context, collection)
    advanced = now is not None and now != before
    if advanced != (expectation == "advanced"):
        raise StageFailure(
            f"the {collection} version should be {expectation}",
            expected=f"{expectation} from {before}",
            actual=now,
        )


def _report(context: ScenarioContext) -> Any:
    if context.last_report is None:
        reason = f"it crashed at {context.crashed}" if context.crashed else "no drain ran yet"
        raise StageFailure(f"there is no drain report to check: {reason}")
    return context.last_report


def run_expect_messages(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    report = _report(context)
    actual = report.messages_by_collection.get(arguments["collection"], 0)
    if actual != arguments["count"]:
        raise StageFailure(
            f"wrong number of messages sent to {arguments['collection']} in the last drain",
            expected=arguments["count"],
            actual=actual,
        )


def run_expect_dlq(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    actual = _report(context).dlq_arrivals.get(arguments["collection"], 0)
    if actual != arguments["count"]:
        raise StageFailure(
            f"wrong number of {arguments['collection']} DLQ arrivals in the last drain",
            expected=arguments["count"],
            actual=actual,
        )


def run_expect_batch_failures(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    report = _report(context)
    sources = arguments.get("source")
    failures = [f for i in report.invocations if sources in (None, i.source) for f in i.failures]
    low, high = arguments.get("min", 0), arguments.get("max", float("inf"))
    if "count" in arguments:
        low = high = arguments["count"]
    if not low <= len(failures) <= high:
        raise StageFailure(
            f"wrong number of batch item failures{f' from {sources}' if sources else ''} in the last drain",
            expected=arguments.get("count", f"{low}..{high}"),
            actual=len(failures),
        )


def run_expect_run(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    alias = arguments["run"]
    if alias not in context.runs:
        raise StageFailure(f"no compaction_run stage named run {alias!r}")
    run = context.runs[alias]
    current = _current(context, CompactionRun, {**run.key_values(), "image_id": run.image_id})
    if not isinstance(current, CompactionRun):
        raise StageFailure(f"run {alias!r} is no longer in the table")
    for collection in ("lines", "words"):
        wanted = arguments.get(collection)
        if wanted is not None and current.state_for(collection) != wanted:
            raise StageFailure(
                f"run {alias!r} is {current.state_for(collection)} for {collection}",
                expected=wanted,
                actual=current.state_for(collection),
            )


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required or [],
        "properties": properties,
    }


BUILTIN_ACTIONS: tuple[StageAction, ...] = (
    StageAction(
        "put",
        "Write an entity (PutItem: INSERT or MODIFY): `entity` is receipt, line, word, metadata, label or "
        "run; `receipt` a seeded alias; the other keys are the entity's fields.",
        ENTITY_SCHEMA,
        run_put,
    ),
    StageAction(
        "update",
        "Read the entity with that key and put it back with the given fields changed.",
        ENTITY_SCHEMA,
        run_update,
    ),
    StageAction("delete", "Delete the entity with that key (REMOVE).", ENTITY_SCHEMA, run_delete),
    StageAction(
        "compaction_run",
        "Embed the receipt's current state into deltas (`layout`: tarball or directory), upload them, then "
        "write the CompactionRun item; `run` names it for `expect_run`.",
        _object(
            {
                "receipt": {"type": "string"},
                "run": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
                "layout": {"enum": ["tarball", "directory"]},
            },
            ["receipt"],
        ),
        run_compaction_run,
    ),
    StageAction(
        "send_message",
        "Put a raw message `body` on `collection`'s queue (with its collection attribute): a poison one, "
        "for instance.",
        _object({"collection": COLLECTION, "body": {"type": "string"}}, ["collection", "body"]),
        run_send_message,
    ),
    StageAction(
        "drain",
        "Run the stream and queue sources until nothing is in flight (armed faults apply to this drain).",
        {"type": ["object", "null"], "additionalProperties": False},
        run_drain,
    ),
    StageAction(
        "fault",
        "Arm faults for the next drain: `crash_at` a named point; `sqs_send_failure` {call: N, times} (every "
        "entry of SendMessageBatch calls N.. fails; 4 exhaust the publisher's retries); `pointer_conflict` "
        "{status: 412|409, nth, times} (pointer writes); `lease_loss`; `duplicate_delivery`; "
        "`reordered_delivery`.",
        _object(
            {
                "crash_at": {"enum": list(CRASH_POINTS)},
                "sqs_send_failure": _object(
                    {"call": {"type": "integer", "minimum": 1}, "times": {"type": "integer", "minimum": 1}}
                ),
                "pointer_conflict": _object(
                    {
                        "status": {"enum": [409, 412]},
                        "nth": {"type": "integer", "minimum": 1},
                        "times": {"type": "integer", "minimum": 1},
                    }
                ),
                "lease_loss": {"type": "boolean"},
                "duplicate_delivery": {"type": "boolean"},
                "reordered_delivery": {"type": "boolean"},
            }
        )
        | {"minProperties": 1},
        run_fault,
    ),
    StageAction(
        "expect_snapshot",
        "Check the latest published snapshot of `collection`: `ids` (receipt/line[/word]) or `where` or "
        "`receipt` select records; `count`, `metadata` (a subset every selected record has; null means "
        "absent), `absent` ids, `version` (advanced or unchanged since the last drain began).",
        _object(
            {
                "collection": COLLECTION,
                "ids": REFS,
                "where": {"type": "object"},
                "receipt": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "metadata": {"type": "object"},
                "absent": REFS,
                "version": {"enum": ["advanced", "unchanged"]},
            },
            ["collection"],
        ),
        run_expect_snapshot,
    ),
    StageAction(
        "expect_messages",
        "Check how many messages the last drain delivered to `collection` for the first time.",
        _object(
            {"collection": COLLECTION, "count": {"type": "integer", "minimum": 0}}, ["collection", "count"]
        ),
        run_expect_messages,
    ),
    StageAction(
        "expect_dlq",
        "Check how many messages reached `collection`'s DLQ during the last drain.",
        _object(
            {"collection": COLLECTION, "count": {"type": "integer", "minimum": 0}}, ["collection", "count"]
        ),
        run_expect_dlq,
    ),
    StageAction(
        "expect_run",
        "Check a CompactionRun's state per collection (`lines`, `words`: PENDING, PROCESSING, COMPLETED, "
        "FAILED).",
        _object(
            {
                "run": {"type": "string"},
                "lines": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
                "words": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
            },
            ["run"],
        ),
        run_expect_run,
    ),
    StageAction(
        "expect_batch_failures",
        "Check the batch item failures of the last drain: `count`, or `min`/`max`; `source` is stream, lines "
        "or words.",
        _object(
            {
                "count": {"type": "integer", "minimum": 0},
                "min": {"type": "integer", "minimum": 0},
                "max": {"type": "integer", "minimum": 0},
                "source": {"enum": ["stream", "lines", "words"]},
            }
        ),
        run_expect_batch_failures,
    ),
)
