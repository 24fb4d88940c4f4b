"""Taking the records out of a Lambda event, or saying clearly why the event is not one."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["event_records"]


def event_records(event: object, *, source: str) -> list[object]:
    """The ``Records`` list of an event from ``source``; anything else is a clear error, not a no-op."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        found = sorted(map(str, event)) if isinstance(event, Mapping) else type(event).__name__
        raise ValueError(f"expected {source} event with a 'Records' list, got {found}")
    return records
