"""Validating a loaded scenario against the shipped schema and the stage actions' own schemas.

Every problem becomes a ``ScenarioSyntaxError`` naming the file, the line and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from receipt_compaction.harness.scenarios.loader import ScenarioSyntaxError, line_of

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from jsonschema.exceptions import ValidationError

    from receipt_compaction.harness.scenarios.actions import StageAction

__all__ = ["SCENARIO_SCHEMA", "Scenario", "Stage", "validate_scenario"]

SCENARIO_SCHEMA: dict[str, Any] = json.loads(
    resources.files("receipt_compaction.harness.scenarios").joinpath("scenario.schema.json").read_text()
)
_VALIDATOR = Draft202012Validator(SCENARIO_SCHEMA)


@dataclass(frozen=True)
class Stage:
    index: int
    name: str
    line: int
    action: StageAction
    argument: Any


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    marks: tuple[str, ...]
    seed: tuple[Mapping[str, Any], ...]
    stages: tuple[Stage, ...]


def validate_scenario(path: Path, document: Any, actions: Mapping[str, StageAction]) -> Scenario:
    _raise_first(path, document, _VALIDATOR.iter_errors(document), [])
    stages = tuple(_stage(path, document, index, actions) for index in range(len(document["stages"])))
    return Scenario(
        path=path,
        name=document["name"],
        marks=tuple(document.get("marks", ())),
        seed=tuple(document.get("seed", ())),
        stages=stages,
    )


def _stage(path: Path, document: Any, index: int, actions: Mapping[str, StageAction]) -> Stage:
    stage = document["stages"][index]
    where = ["stages", index]
    keys = [key for key in stage if key != "name"]
    unknown = [key for key in keys if key not in actions]
    if unknown:
        known = ", ".join(sorted(actions))
        line = line_of(document, [*where, unknown[0]])
        raise ScenarioSyntaxError(
            path, line, f"stage {index + 1}: unknown action {unknown[0]!r} (known: {known})"
        )
    if len(keys) != 1:
        found = ", ".join(keys) or "none"
        raise ScenarioSyntaxError(
            path, line_of(document, where), f"stage {index + 1}: needs exactly one action, found {found}"
        )
    action = actions[keys[0]]
    argument = stage[keys[0]]
    errors = Draft202012Validator(action.schema).iter_errors(argument)
    _raise_first(path, document, errors, [*where, keys[0]], f"stage {index + 1} ({keys[0]}): ")
    name = stage.get("name") or f"{index + 1}: {keys[0]}"
    return Stage(index, str(name), line_of(document, where), action, argument)


def _raise_first(path: Path, document: Any, errors: Any, prefix: list[Any], context: str = "") -> None:
    found: list[ValidationError] = sorted(errors, key=lambda error: list(map(str, error.absolute_path)))
    if not found:
        return
    error = found[0]
    location = [*prefix, *error.absolute_path]
    where = ".".join(map(str, location)) or "the document"
    raise ScenarioSyntaxError(path, line_of(document, location), f"{context}{where}: {error.message}")
