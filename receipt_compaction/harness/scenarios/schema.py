"""The scenario JSON schema, generated: the document's frame, the seed from the entities' pydantic models,
and one ``stages`` branch per stage action with that action's own schema.

The shipped ``scenario.schema.json`` is ``render_schema(scenario_schema(BUILTIN_ACTIONS))`` (a test keeps
them equal); regenerate it from the repository's root with this command:

receipt-compaction scenarios schema --builtin-only > receipt_compaction/harness/scenarios/scenario.schema.json

Editors read it through ``# yaml-language-server: $schema=...`` at the top of a scenario file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from receipt_compaction.entities import Entity, Receipt, ReceiptWordLabel
from receipt_compaction.harness.scenarios.writing import ENTITY_KINDS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from receipt_compaction.harness.scenarios.actions import StageAction

__all__ = [
    "SCHEMA_ID",
    "EntityMode",
    "entity_argument_schema",
    "entity_fields",
    "frame_schema",
    "render_schema",
    "scenario_schema",
    "seed_label_schema",
    "shipped_schema_path",
    "stage_branch",
]

SCHEMA_ID = "https://receipt-compaction.invalid/scenario.schema.json"

EntityMode: TypeAlias = Literal["put", "update", "delete"]
"""``put`` writes a whole entity (its required fields are required); ``update`` names it by key and changes
any field; ``delete`` names it by key only."""

_FROM_ALIAS = ("image_id", "receipt_id")
"""Key fields a stage never writes: they come from the seeded receipt its ``receipt`` alias names."""

_MARK = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
_ALIAS = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}


def shipped_schema_path() -> Path:
    """The schema file shipped in this package (package data beside this module)."""
    return Path(__file__).with_name("scenario.schema.json")


def render_schema(schema: Mapping[str, Any]) -> str:
    """The schema as the shipped file holds it (two-space indent, a final newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# -- entities -----------------------------------------------------------------------------------------------


def _without_titles(schema: Any) -> Any:
    """pydantic's schema minus its generated ``title`` keys (``Line Id``...): they only add noise."""
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key == "properties":
            cleaned[key] = {name: _without_titles(sub) for name, sub in value.items()}
        else:
            cleaned[key] = _without_titles(value)
    return cleaned


def entity_fields(entity_class: type[Entity], *, mode: EntityMode) -> tuple[dict[str, Any], list[str]]:
    """The fields a stage may write for ``entity_class`` (JSON schemas by name) and those it must write."""
    generated = entity_class.model_json_schema(mode="validation")
    keys = set(entity_class.key_fields())
    names = [
        name
        for name in generated["properties"]
        if name not in _FROM_ALIAS and (mode != "delete" or name in keys)
    ]
    if mode == "put":
        required = [name for name in generated.get("required", []) if name in names]
    else:
        required = [name for name in names if name in keys]
    properties = {name: _without_titles(generated["properties"][name]) for name in names}
    return properties, required


def _entity_branch(kind: str, entity_class: type[Entity], *, mode: EntityMode) -> dict[str, Any]:
    properties, required = entity_fields(entity_class, mode=mode)
    summary = (entity_class.__doc__ or "").strip().splitlines()[0]
    return {
        "description": f"{entity_class.__name__}: {summary}",
        "type": "object",
        "additionalProperties": False,
        "required": ["entity", "receipt", *required],
        "properties": {
            "entity": {"const": kind},
            "receipt": {"type": "string", "description": "the alias of a seeded receipt"},
            **properties,
        },
    }


def entity_argument_schema(*, mode: EntityMode) -> dict[str, Any]:
    """The argument of ``put``/``update``/``delete``: ``entity`` picks one closed branch (``oneOf``)."""
    return {
        "type": "object",
        "required": ["entity", "receipt"],
        "properties": {
            "entity": {"enum": list(ENTITY_KINDS)},
            "receipt": {"type": "string", "description": "the alias of a seeded receipt"},
        },
        "oneOf": [_entity_branch(kind, cls, mode=mode) for kind, cls in ENTITY_KINDS.items()],
    }


def seed_label_schema() -> dict[str, Any]:
    """A label under a seeded receipt: a ReceiptWordLabel's fields, as a ``put`` of a label writes them."""
    properties, required = entity_fields(ReceiptWordLabel, mode="put")
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


def _seed_receipt_schema() -> dict[str, Any]:
    receipt = Receipt.model_json_schema()["properties"]
    word = {"type": ["string", "number"]}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["receipt", "lines"],
        "properties": {
            "receipt": {**_ALIAS, "description": "the alias stages use"},
            "image_id": _without_titles(receipt["image_id"]),
            "receipt_id": _without_titles(receipt["receipt_id"]),
            "merchant_name": {"type": "string", "description": "writes a ReceiptMetadata with this name"},
            "lines": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "array", "minItems": 1, "items": word},
            },
            "labels": {"type": "array", "items": seed_label_schema()},
        },
    }


# -- stages and the document --------------------------------------------------------------------------------


def stage_branch(action: StageAction) -> dict[str, Any]:
    """One stage with ``action``: an optional ``name`` and exactly that action's key."""
    return {
        "description": action.description,
        "type": "object",
        "additionalProperties": False,
        "required": [action.name],
        "properties": {"name": {"type": "string"}, action.name: action.schema},
    }


def _document(stage: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "receipt-compaction scenario",
        "description": (
            "One end-to-end scenario: receipts to seed, then ordered stages with one action each. "
            "Generated by `receipt-compaction scenarios schema`."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "stages"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "marks": {
                "type": "array",
                "items": _MARK,
                "description": "pytest marks; register them under `markers` in your pytest ini",
            },
            "seed": {"type": "array", "items": {"$ref": "#/$defs/receipt"}},
            "stages": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/stage"}},
        },
        "$defs": {"receipt": _seed_receipt_schema(), "stage": dict(stage)},
    }


def scenario_schema(actions: Iterable[StageAction]) -> dict[str, Any]:
    """The whole schema: every stage is one of ``actions`` (``oneOf``, one closed branch per action)."""
    branches: Sequence[dict[str, Any]] = [stage_branch(action) for action in actions]
    return _document({"description": "An optional name and exactly one action.", "oneOf": branches})


def frame_schema() -> dict[str, Any]:
    """The document without the stages' actions: validation checks each stage against its own action, so an
    error names that action's field instead of listing why every other action did not match either."""
    return _document({"type": "object", "minProperties": 1})
