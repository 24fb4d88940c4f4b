"""Stage actions that write: entities into the table, deltas and runs, raw queue messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from receipt_compaction.entities import (
    CompactionRun,
    Entity,
    Receipt,
    ReceiptLine,
    ReceiptMetadata,
    ReceiptWord,
    ReceiptWordLabel,
)
from receipt_compaction.harness.scenarios.context import ScenarioContext, StageFailure
from receipt_compaction.keys import render_pk, render_sort_key

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ENTITY_KINDS",
    "current_entity",
    "run_compaction_run",
    "run_delete",
    "run_put",
    "run_send_message",
    "run_update",
]

ENTITY_KINDS: dict[str, type[Entity]] = {
    "receipt": Receipt,
    "line": ReceiptLine,
    "word": ReceiptWord,
    "metadata": ReceiptMetadata,
    "label": ReceiptWordLabel,
    "run": CompactionRun,
}

"""The ``entity`` of ``put``/``update``/``delete``: the kind names a scenario writes, and their classes. The
arguments' schemas are generated from these models (``schema.entity_argument_schema``)."""


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


def current_entity(
    context: ScenarioContext, entity_class: type[Entity], fields: dict[str, Any]
) -> Entity | None:
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
    current = current_entity(context, entity_class, fields)
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
    _, context.runs[alias] = context.pipeline.produce_delta(
        key, f"{alias}-{len(context.runs) + 1}", arguments.get("layout", "tarball")
    )


def run_send_message(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    """Put a raw message on a collection's queue, as a misbehaving producer would."""
    collection = arguments["collection"]
    context.pipeline.clients.sqs.send_message(
        QueueUrl=context.pipeline.resources.queue_urls[collection],
        MessageBody=arguments["body"],
        MessageAttributes={"collection": {"DataType": "String", "StringValue": collection}},
    )
