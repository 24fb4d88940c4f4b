"""Which stage actions a scenario may use: the built-in ones, those installed packages add through the
``receipt_compaction.stage_actions`` entry point group, and any others a caller brings (the pytest plugin
brings those of its stage-actions hook, for ``conftest.py`` files).

An installed package declares, in its ``pyproject.toml``::

    [project.entry-points."receipt_compaction.stage_actions"]
    acme = "acme_scenarios.actions:stage_actions"   # a callable returning a list of StageAction

Two actions with one name are an error naming both origins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from receipt_compaction.harness.scenarios.actions import BUILTIN_ACTIONS, StageAction

__all__ = [
    "ENTRY_POINT_GROUP",
    "Contribution",
    "StageActionError",
    "builtin_contribution",
    "contribution",
    "installed_contributions",
    "known_actions",
    "vocabulary",
]

ENTRY_POINT_GROUP = "receipt_compaction.stage_actions"

_RESERVED = frozenset({"name"})
"""Keys of a stage that are not actions."""


class StageActionError(ValueError):
    """Stage actions that cannot be used together (a clash), or a contribution that is not stage actions."""


@dataclass(frozen=True)
class Contribution:
    """Stage actions and where they come from (for error messages)."""

    origin: str
    actions: tuple[StageAction, ...]


def builtin_contribution() -> Contribution:
    return Contribution("receipt-compaction (built-in)", BUILTIN_ACTIONS)


def contribution(origin: str, produced: object) -> Contribution:
    """Check that ``produced`` is a list (or tuple) of ``StageAction`` with usable names and schemas."""
    if produced is None:
        return Contribution(origin, ())
    if not isinstance(produced, list | tuple):
        raise StageActionError(f"{origin} returned {type(produced).__name__}, not a list of StageAction")
    for action in produced:
        if not isinstance(action, StageAction):
            raise StageActionError(f"{origin} returned {action!r}, which is not a StageAction")
        if not action.name or action.name in _RESERVED:
            raise StageActionError(f"{origin}: {action.name!r} cannot name a stage action")
        try:
            Draft202012Validator.check_schema(action.schema)
        except SchemaError as error:
            raise StageActionError(
                f"{origin}: the schema of {action.name!r} is no JSON schema: {error.message}"
            ) from None
    return Contribution(origin, tuple(produced))


def _describe(entry_point: EntryPoint) -> str:
    dist = entry_point.dist
    owner = f" of {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {entry_point.name!r} ({entry_point.value}){owner}"


def installed_contributions() -> list[Contribution]:
    """The actions of every ``receipt_compaction.stage_actions`` entry point, loaded and called."""
    found = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        origin = _describe(entry_point)
        try:
            factory: Callable[[], object] = entry_point.load()
            produced = factory()
        except Exception as error:  # a broken package must say which one it is
            raise StageActionError(f"{origin} failed: {type(error).__name__}: {error}") from error
        found.append(contribution(origin, produced))
    return found


def vocabulary(contributions: Iterable[Contribution]) -> dict[str, StageAction]:
    """The actions by name; a name given twice is a ``StageActionError`` naming both origins."""
    actions: dict[str, StageAction] = {}
    origins: dict[str, str] = {}
    for contributed in contributions:
        for action in contributed.actions:
            if action.name in actions:
                raise StageActionError(
                    f"two stage actions are named {action.name!r}: one from {origins[action.name]}, one from "
                    f"{contributed.origin}; rename one of them"
                )
            actions[action.name] = action
            origins[action.name] = contributed.origin
    return actions


def known_actions(*extra: Contribution) -> dict[str, StageAction]:
    """Built-in actions, those of installed packages, then ``extra``: what ``scenarios lint`` knows."""
    return vocabulary([builtin_contribution(), *installed_contributions(), *extra])
