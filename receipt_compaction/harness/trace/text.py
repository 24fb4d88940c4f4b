"""A drain's timeline as a few dozen lines of text: what a failing test's report shows.

The first line sums the drain up (records, messages per collection, invocations, failures, DLQ and
on-failure arrivals, versions, how it ended); then one line per event, time first, lane second. A drain
with more events than fit keeps its invocations, versions, leases, faults and arrivals, and folds records,
decisions, messages and deliveries into one count line per lane; past that the middle is elided, saying
how much. The full timeline is in the kept artifacts and the trace files.
"""

from __future__ import annotations

from collections import Counter

from receipt_compaction.harness.trace.events import LANE_TITLES, DrainTrace, TraceEvent, counted

__all__ = ["MAX_LINES", "render_text", "summary_line"]

MAX_LINES = 40
FOLDABLE = frozenset({"record", "decision", "message", "delivery"})
LANE_WIDTH = max(len(title) for title in LANE_TITLES.values())


def summary_line(trace: DrainTrace) -> str:
    summary = trace.summary
    parts = [f"drain {trace.number}, {trace.duration:.2f} s"]
    if summary:
        by_collection = summary.get("messages_by_collection") or {}
        per = ", ".join(f"{name} {count}" for name, count in sorted(by_collection.items()))
        parts.append(counted(summary.get("records", 0), "record"))
        messages = counted(summary.get("messages", 0), "message")
        parts.append(f"{messages} ({per})" if per else messages)
        parts.append(counted(summary.get("invocations", 0), "invocation"))
        parts.append(counted(summary.get("batch_item_failures", 0), "batch item failure"))
        dlq = sum((summary.get("dlq_arrivals") or {}).values())
        parts.append(f"{dlq} to DLQs, {summary.get('on_failure_arrivals', 0)} to on-failure")
        versions = summary.get("published_versions") or {}
        parts.append("versions " + ", ".join(f"{name} +{len(ids)}" for name, ids in sorted(versions.items())))
    else:
        parts += [counted(trace.count(kind), kind) for kind in ("record", "message", "invocation", "version")]
    if trace.error:
        parts.append(f"raised {trace.error.splitlines()[0][:200]}")
    return "; ".join(parts)


def _event_line(event: TraceEvent) -> str:
    lane = LANE_TITLES.get(event.lane, event.lane)
    took = f" [{event.duration * 1000:.0f} ms]" if event.duration is not None else ""
    return f"  +{event.at:7.3f}s  {lane:<{LANE_WIDTH}}  {event.title}{took}"


def _folded(trace: DrainTrace) -> list[str]:
    """Invocations and everything rare one per line; records, decisions, messages, deliveries counted."""
    lines: list[str] = []
    counts: Counter[tuple[str, str]] = Counter()
    for event in trace.events:
        if event.kind in FOLDABLE:
            counts[(event.lane, event.kind)] += 1
            continue
        lines.append(_event_line(event))
    folded = [
        f"  {LANE_TITLES.get(lane, lane):<{LANE_WIDTH + 10}}  {count} {kind}s (each in the full trace)"
        for (lane, kind), count in sorted(counts.items())
    ]
    return folded + lines


def render_text(trace: DrainTrace, *, max_lines: int = MAX_LINES) -> str:
    """The drain as at most ``max_lines`` lines (and the summary line)."""
    lines = [_event_line(event) for event in trace.events]
    if len(lines) > max_lines:
        lines = _folded(trace)
    if len(lines) > max_lines:
        head = max_lines // 3
        tail = max_lines - head - 1
        lines = [*lines[:head], f"  ... {len(lines) - head - tail} more lines ...", *lines[-tail:]]
    return "\n".join([summary_line(trace), *lines])
