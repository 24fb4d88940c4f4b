"""The stage reference in Markdown, generated from the actions themselves (the README carries a copy that a
test keeps equal to this)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from receipt_compaction.harness.scenarios.actions import BUILTIN_ACTIONS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from receipt_compaction.harness.scenarios.actions import StageAction

__all__ = ["stage_reference"]


def stage_reference(actions: Iterable[StageAction] = BUILTIN_ACTIONS) -> str:
    rows = ["| action | arguments | what it does |", "| --- | --- | --- |"]
    for action in actions:
        properties = action.schema.get("properties", {})
        required = set(action.schema.get("required", []))
        arguments = (
            ", ".join(f"`{name}`" + ("" if name in required else "?") for name in properties) or "none"
        )
        rows.append(f"| `{action.name}` | {arguments} | {action.description} |")
    return "\n".join(rows)
