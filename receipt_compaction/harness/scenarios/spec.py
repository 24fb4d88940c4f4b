"""Validating a loaded scenario: the document's frame against the generated schema, then each stage against
its own action's schema (the branch its action key picks, and for entities the branch ``entity`` picks).

Every problem becomes a ``ScenarioSyntaxError`` naming the file, the line and what is wrong; the old seed
spelling of labels becomes a ``ScenarioDeprecation`` (data, with file and line) and keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from receipt_compaction.harness.scenarios.loader import LineDict, ScenarioSyntaxError, line_of
from receipt_compaction.harness.scenarios.schema import frame_schema

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from receipt_compaction.harness.scenarios.actions import StageAction

__all__ = [
    "OLD_LABEL_SPELLING",
    "Scenario",
    "ScenarioDeprecation",
    "ScenarioDeprecationWarning",
    "Stage",
    "validate_scenario",
]

_FRAME = Draft202012Validator(frame_schema())

OLD_LABEL_SPELLING = {"line": "line_id", "word": "word_id", "status": "validation_status"}
"""Seed labels once said ``line``/``word``/``status``; stages always said ``line_id``/``word_id``/
``validation_status``. The old words still work, with a deprecation."""


class ScenarioDeprecationWarning(DeprecationWarning):
    """A scenario uses a spelling that still works but will not forever (the plugin warns with this)."""


@dataclass(frozen=True)
class ScenarioDeprecation:
    path: Path
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


@dataclass(frozen=True)
class Stage:
    index: int
    name: str
    line: int
    action: StageAction
    argument: Any
    end_line: int = 0
    """The last line of the stage's YAML (``line`` when unknown)."""


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    marks: tuple[str, ...]
    seed: tuple[Mapping[str, Any], ...]
    stages: tuple[Stage, ...]
    line: int = 1
    """The line of the scenario's ``name``."""
    deprecations: tuple[ScenarioDeprecation, ...] = ()


def validate_scenario(path: Path, document: Any, actions: Mapping[str, StageAction]) -> Scenario:
    deprecations = _modernise_seed_labels(path, document)
    _raise_first(path, document, _FRAME.iter_errors(document), [])
    stages = tuple(_stage(path, document, index, actions) for index in range(len(document["stages"])))
    return Scenario(
        path=path,
        name=document["name"],
        marks=tuple(document.get("marks", ())),
        seed=tuple(document.get("seed", ())),
        stages=stages,
        line=line_of(document, ["name"]),
        deprecations=tuple(deprecations),
    )


# -- the old seed spelling ----------------------------------------------------------------------------------


def _modernise_seed_labels(path: Path, document: Any) -> list[ScenarioDeprecation]:
    """Rename ``line``/``word``/``status`` of seed labels in place, one deprecation per old word found."""
    found: list[ScenarioDeprecation] = []
    seed = document.get("seed") if isinstance(document, Mapping) else None
    for receipt_index, receipt in enumerate(seed if isinstance(seed, list) else []):
        labels = receipt.get("labels") if isinstance(receipt, Mapping) else None
        if not isinstance(labels, list):
            continue  # the schema says what is wrong
        for label_index, label in enumerate(labels):
            if isinstance(label, LineDict):
                where = ["seed", receipt_index, "labels", label_index]
                labels[label_index] = _renamed(path, document, where, label, found)
    return found


def _renamed(
    path: Path, document: Any, where: list[Any], label: LineDict, found: list[ScenarioDeprecation]
) -> LineDict:
    renamed = LineDict()
    renamed.line, renamed.key_lines = label.line, {}
    for key, value in label.items():
        new = OLD_LABEL_SPELLING.get(key, key)
        line = label.key_lines.get(key, label.line)
        if new != key:
            location = ".".join(map(str, [*where, key]))
            if new in label:
                raise ScenarioSyntaxError(path, line, f"{location}: write {new!r} only (it replaces {key!r})")
            problem = f"{location}: {key!r} is deprecated, write {new!r} (as stages do)"
            found.append(ScenarioDeprecation(path, line, problem))
        renamed[new] = value
        renamed.key_lines[new] = line
    return renamed


# -- stages -------------------------------------------------------------------------------------------------


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
    errors = _argument_errors(action.schema, argument)
    _raise_first(path, document, errors, [*where, keys[0]], f"stage {index + 1} ({keys[0]}): ")
    name = stage.get("name") or f"{index + 1}: {keys[0]}"
    line = line_of(document, where)
    end_lines = getattr(document["stages"], "item_end_lines", None)
    return Stage(index, str(name), line, action, argument, end_line=end_lines[index] if end_lines else line)


def _argument_errors(schema: Mapping[str, Any], argument: Any) -> Iterable[ValidationError]:
    """The errors of ``argument``. A ``oneOf`` whose branches each fix one property to a ``const``
    (``entity``) is checked against the branch the argument names, so errors are about that branch alone."""
    branches = schema.get("oneOf")
    discriminator = _discriminator(branches) if isinstance(branches, list) else None
    if branches is None or discriminator is None or not isinstance(argument, Mapping):
        return list(Draft202012Validator(schema).iter_errors(argument))
    frame = {key: value for key, value in schema.items() if key != "oneOf"}
    errors = list(Draft202012Validator(frame).iter_errors(argument))
    if errors:
        return errors
    consts = [branch["properties"][discriminator]["const"] for branch in branches]
    if argument.get(discriminator) not in consts:
        found = argument.get(discriminator)
        return [ValidationError(f"{found!r} is not one of {consts!r}", path=[discriminator])]
    chosen = branches[consts.index(argument[discriminator])]
    return list(Draft202012Validator(chosen).iter_errors(argument))


def _discriminator(branches: list[Any]) -> str | None:
    if not branches or not all(isinstance(b, Mapping) for b in branches):
        return None
    common = set.intersection(
        *({name for name, sub in b.get("properties", {}).items() if "const" in sub} for b in branches)
    )
    return min(common) if common else None


def _raise_first(path: Path, document: Any, errors: Any, prefix: list[Any], context: str = "") -> None:
    found: list[ValidationError] = sorted(errors, key=lambda error: list(map(str, error.absolute_path)))
    if not found:
        return
    error = found[0]
    location, message = [*prefix, *error.absolute_path], error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        location, message = _unknown_field(location, error)
    where = ".".join(map(str, location)) or "the document"
    raise ScenarioSyntaxError(path, line_of(document, location), f"{context}{where}: {message}")


def _unknown_field(location: list[Any], error: ValidationError) -> tuple[list[Any], str]:
    """``unknown field 'validaton_status' (did you mean 'validation_status'?)``, at that field's line."""
    allowed = list(error.schema.get("properties", {})) if isinstance(error.schema, Mapping) else []
    instance: Mapping[str, Any] = error.instance  # type: ignore[assignment]  # checked by the caller
    extra = next(key for key in instance if key not in allowed)
    close = difflib.get_close_matches(str(extra), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = f"allowed: {', '.join(allowed)}" if allowed else "it takes no fields"
    return [*location, extra], f"unknown field {extra!r}{hint}; {known}"
