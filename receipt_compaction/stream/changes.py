"""Change detection: which Chroma-relevant fields differ between a record's old and new entity."""

from __future__ import annotations

from receipt_compaction.contract import ChangeValue, FieldChange
from receipt_compaction.entities import Entity, MessageFields

__all__ = ["relevant_changes"]


def relevant_changes(
    entity_class: type[Entity], old: Entity | MessageFields | None, new: Entity | MessageFields | None
) -> dict[str, FieldChange]:
    """``{field: FieldChange}`` for every field of ``entity_class.CHROMA_FIELDS`` whose value differs.

    A missing entity (INSERT's old side, REMOVE's new side) reads as None in every field, so an INSERT lists
    the fields it sets and a REMOVE the fields it clears. Unset and empty are the same (the models store
    ``""`` as None), so ``"" -> None`` is no change.
    """
    changes = {}
    for name in entity_class.CHROMA_FIELDS:
        before, after = _field_value(old, name), _field_value(new, name)
        if before != after:
            changes[name] = FieldChange(old=before, new=after)
    return changes


def _field_value(entity: Entity | MessageFields | None, name: str) -> ChangeValue:
    if entity is None:
        return None
    value = entity.value(name) if type(entity) is MessageFields else getattr(entity, name)
    return value if value is None or isinstance(value, str | int) else str(value)
