"""Change detection: which Chroma-relevant fields differ between a record's old and new entity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receipt_compaction.contract import ChangeValue, FieldChange
from receipt_compaction.entities import Entity, MessageFields

__all__ = ["plain_changes", "relevant_changes"]


def relevant_changes(
    entity_class: type[Entity], old: Entity | MessageFields | None, new: Entity | MessageFields | None
) -> dict[str, FieldChange]:
    """``{field: FieldChange}`` for every field of ``entity_class.CHROMA_FIELDS`` whose value differs.

    A missing entity (INSERT's old side, REMOVE's new side) reads as None in every field, so an INSERT lists
    the fields it sets and a REMOVE the fields it clears. Unset and empty are the same (the models store
    ``""`` as None), so ``"" -> None`` is no change.
    """
    return {
        name: FieldChange(old=change["old"], new=change["new"])
        for name, change in plain_changes(entity_class, old, new).items()
    }


def plain_changes(
    entity_class: type[Entity], old: Entity | MessageFields | None, new: Entity | MessageFields | None
) -> dict[str, dict[str, ChangeValue]]:
    """``relevant_changes`` as plain ``{"old": ..., "new": ...}`` dicts, as a message body holds them."""
    if (
        type(old) is MessageFields
        and type(new) is MessageFields
        and old.chroma is new.chroma
        and old.key_values is new.key_values
    ):
        return {}  # one memoized check of identical raw attributes, under one key: nothing changed
    olds, news = _values(old), _values(new)
    changes = {}
    for name in entity_class.CHROMA_FIELDS:
        before, after = olds.get(name), news.get(name)
        if before is not None and type(before) is not str:
            before = _change_value(before)
        if after is not None and type(after) is not str:
            after = _change_value(after)
        if before != after:
            changes[name] = {"old": before, "new": after}
    return changes


_NOTHING: dict[str, Any] = {}


def _values(entity: Entity | MessageFields | None) -> Mapping[str, Any]:
    """Every field of ``entity`` by name (a missing entity has none): one merge, not a call per field."""
    if entity is None:
        return _NOTHING
    if type(entity) is MessageFields:
        return {**entity.key_values, **entity.chroma}
    return vars(entity)


def _change_value(value: object) -> ChangeValue:
    return value if isinstance(value, int) else str(value)
