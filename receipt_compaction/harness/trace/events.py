"""The timeline of one drain as data: events on swimlanes, and the drain's outcome.

Plain dataclasses that round-trip through JSON (``to_dict``/``from_dict``), so a kept artifact or a trace
file can be read back and rendered again. Every ``detail`` holds JSON values only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

__all__ = ["KINDS", "LANES", "LANE_TITLES", "DrainTrace", "EventKind", "Lane", "TraceEvent", "counted"]

Lane = Literal["stream", "stream-handler", "lines", "words", "compaction-handler", "s3"]
LANES: tuple[Lane, ...] = ("stream", "stream-handler", "lines", "words", "compaction-handler", "s3")
"""The swimlanes, left to right in the order data flows."""
LANE_TITLES: dict[str, str] = {
    "stream": "DynamoDB stream",
    "stream-handler": "stream handler",
    "lines": "queue lines",
    "words": "queue words",
    "compaction-handler": "compaction handler",
    "s3": "S3 versions",
}

EventKind = Literal[
    "record",
    "decision",
    "message",
    "delivery",
    "invocation",
    "lease",
    "version",
    "dlq",
    "on_failure",
    "fault",
]
KINDS: tuple[EventKind, ...] = get_args(EventKind)


def counted(number: int, noun: str) -> str:
    """``1 record``, ``2 records``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@dataclass
class TraceEvent:
    """One thing that happened: when (seconds since the drain began), on which lane, what, and its data."""

    at: float
    lane: Lane
    kind: EventKind
    title: str
    """One line a person reads."""
    detail: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None
    """Seconds it took (an invocation), when it took time."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceEvent:
        return cls(
            at=float(data["at"]),
            lane=data["lane"],
            kind=data["kind"],
            title=str(data["title"]),
            detail=dict(data.get("detail") or {}),
            duration=data.get("duration"),
        )


@dataclass
class DrainTrace:
    """One ``drain()``: its events in order, its summary (the drain report's counts), how it ended."""

    number: int
    """1 for a pipeline's first drain (seeding drains count too)."""
    started: str
    """When it began (UTC, ISO 8601)."""
    events: list[TraceEvent] = field(default_factory=list)
    duration: float = 0.0
    error: str | None = None
    """What the drain raised, when it did not return (a deadline, a simulated crash)."""
    summary: dict[str, Any] = field(default_factory=dict)
    """The drain report's counts: records, messages by collection, invocations, failures, DLQ and
    on-failure arrivals, versions published."""

    def count(self, kind: EventKind) -> int:
        return sum(1 for event in self.events if event.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrainTrace:
        return cls(
            number=int(data["number"]),
            started=str(data["started"]),
            events=[TraceEvent.from_dict(event) for event in data.get("events", [])],
            duration=float(data.get("duration", 0.0)),
            error=data.get("error"),
            summary=dict(data.get("summary") or {}),
        )
