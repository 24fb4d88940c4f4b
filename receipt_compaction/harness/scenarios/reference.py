"""The stage reference in Markdown, generated from the actions and the entities themselves (the README carries
a copy that a test keeps equal to this)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from receipt_compaction.harness.scenarios.actions import BUILTIN_ACTIONS
from receipt_compaction.harness.scenarios.schema import entity_fields
from receipt_compaction.harness.scenarios.writing import ENTITY_KINDS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from receipt_compaction.harness.scenarios.actions import StageAction

__all__ = ["entity_reference", "stage_reference"]


def stage_reference(actions: Iterable[StageAction] = BUILTIN_ACTIONS) -> str:
    """The actions table, then the fields each ``entity`` of ``put``/``update``/``delete`` takes."""
    rows = ["| action | arguments | what it does |", "| --- | --- | --- |"]
    for action in actions:
        properties = action.schema.get("properties", {})
        required = set(action.schema.get("required", []))
        arguments = (
            ", ".join(f"`{name}`" + ("" if name in required else "?") for name in properties) or "none"
        )
        if "oneOf" in action.schema:
            arguments += ", the entity's fields (below)"
        rows.append(f"| `{action.name}` | {arguments} | {action.description} |")
    return "\n".join(rows) + "\n\n" + entity_reference()


def entity_reference() -> str:
    """Per ``entity`` kind: its class, its key fields (what ``update`` and ``delete`` name it by) and its
    other fields; ``put`` needs those marked without ``?``. ``image_id``/``receipt_id`` come from the
    ``receipt`` alias."""
    rows = ["| `entity` | class | key fields | other fields |", "| --- | --- | --- | --- |"]
    for kind, entity_class in ENTITY_KINDS.items():
        keys, _ = entity_fields(entity_class, mode="delete")
        fields, required = entity_fields(entity_class, mode="put")
        others = [f"`{name}`" + ("" if name in required else "?") for name in fields if name not in keys]
        key_list = ", ".join(f"`{name}`" for name in keys) or "none beyond `receipt`"
        rows.append(f"| `{kind}` | `{entity_class.__name__}` | {key_list} | {', '.join(others) or 'none'} |")
    return "\n".join(rows)
