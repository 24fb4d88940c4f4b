"""What changed between two snapshot directories record by record: ids added and removed, and for ids in
both, each metadata key added, removed or changed (old -> new), and the document when it changed.

Chroma metadata cannot hold None, so None here always means "absent". The directories are opened in this
process: they are expected to be versions just restored with every sha256 checked (``SnapshotStore.restore``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from receipt_compaction.chroma_store import open_chroma, open_collection

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DOCUMENT_KEY", "KeyChange", "RecordDiff", "diff_record_sets", "diff_snapshot_records"]

DOCUMENT_KEY = "(document)"
"""The pseudo-key under which a changed document is reported among the metadata keys."""


@dataclass(frozen=True)
class KeyChange:
    key: str
    old: Any
    """None: the key was absent."""
    new: Any
    """None: the key is absent now."""

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        return "removed" if self.new is None else "changed"


@dataclass(frozen=True)
class RecordDiff:
    added: dict[str, dict[str, Any]] = field(default_factory=dict)
    """id -> its metadata in the new version."""
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """id -> its metadata in the old version."""
    changed: dict[str, tuple[KeyChange, ...]] = field(default_factory=dict)
    """id -> what changed, key by key (sorted)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {
                record: {change.key: {"old": change.old, "new": change.new} for change in changes}
                for record, changes in self.changed.items()
            },
        }

    def lines(self) -> list[str]:
        """The diff for a person: one line per record added or removed, one per key changed."""
        lines = [f"  added   {record} {_short(metadata)}" for record, metadata in self.added.items()]
        lines += [f"  removed {record} {_short(metadata)}" for record, metadata in self.removed.items()]
        for record, changes in self.changed.items():
            lines.append(f"  changed {record}")
            lines += [f"      {c.key}: {_value(c.old)} -> {_value(c.new)}" for c in changes]
        return lines


def _value(value: Any) -> str:
    return "(absent)" if value is None else repr(value)


def _short(metadata: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{key}: {value!r}" for key, value in sorted(metadata.items())) + "}"


Records = dict[str, tuple[dict[str, Any], str | None]]
"""id -> (metadata, document)."""


def _read(directory: Path, collection: str) -> Records:
    with open_chroma(directory) as client:
        found = open_collection(client, collection).get(include=["metadatas", "documents"])
    ids = list(found["ids"])
    nothing: list[Any] = [None] * len(ids)
    metadatas: list[Any] = list(found.get("metadatas") or nothing)
    documents: list[Any] = list(found.get("documents") or nothing)
    return {
        record: (dict(metadata or {}), document)
        for record, metadata, document in zip(ids, metadatas, documents, strict=True)
    }


def diff_record_sets(old: Records, new: Records) -> RecordDiff:
    """Compare two record sets (id -> (metadata, document))."""
    changed: dict[str, tuple[KeyChange, ...]] = {}
    for record in sorted(old.keys() & new.keys()):
        (before, old_document), (after, new_document) = old[record], new[record]
        changes = [
            KeyChange(key, before.get(key), after.get(key))
            for key in sorted(before.keys() | after.keys())
            if before.get(key) != after.get(key)
        ]
        if old_document != new_document:
            changes.append(KeyChange(DOCUMENT_KEY, old_document, new_document))
        if changes:
            changed[record] = tuple(changes)
    return RecordDiff(
        added={record: new[record][0] for record in sorted(new.keys() - old.keys())},
        removed={record: old[record][0] for record in sorted(old.keys() - new.keys())},
        changed=changed,
    )


def diff_snapshot_records(old_dir: Path, new_dir: Path, collection: str) -> RecordDiff:
    """The record differences between two restored snapshot directories of ``collection``."""
    return diff_record_sets(_read(old_dir, collection), _read(new_dir, collection))
