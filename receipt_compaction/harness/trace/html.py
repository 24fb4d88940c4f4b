"""A test's drains as one self-contained HTML page: swimlanes (stream, stream handler, the lines and words
queues, compaction handler, S3 versions), one row per event in time order, each event's data a click away.

No network, no external CSS or scripts: the styles are inline and the page has no script at all (the JSON
is embedded as data, ``<script type="application/json">``, which browsers never run), so it opens from a CI
artifact or a mail attachment as it is.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING

from receipt_compaction.harness.trace.events import LANE_TITLES, LANES
from receipt_compaction.harness.trace.text import summary_line

if TYPE_CHECKING:
    from collections.abc import Sequence

    from receipt_compaction.harness.trace.events import DrainTrace, TraceEvent

__all__ = ["render_html", "trace_document"]

COLOURS = {
    "record": "#dbeafe",
    "decision": "#e0e7ff",
    "message": "#dcfce7",
    "delivery": "#f0fdf4",
    "invocation": "#fef9c3",
    "lease": "#f3e8ff",
    "version": "#ffedd5",
    "dlq": "#fecaca",
    "on_failure": "#fecaca",
    "fault": "#fca5a5",
}

STYLE = """
body { font: 13px/1.35 system-ui, sans-serif; margin: 16px; color: #111827; background: #fff; }
h1 { font-size: 18px; margin: 0 0 4px; }
h2 { font-size: 14px; margin: 24px 0 6px; }
.meta, .summary { color: #374151; margin: 2px 0; }
.error { color: #b91c1c; font-weight: 600; }
.legend span { display: inline-block; padding: 1px 6px; margin: 2px; border-radius: 3px;
               border: 1px solid #d1d5db; }
.lanes { display: grid; grid-template-columns: 70px repeat(6, minmax(150px, 1fr)); gap: 2px 6px;
         align-items: start; }
.head { position: sticky; top: 0; background: #111827; color: #fff; font-weight: 600; padding: 4px 6px;
        border-radius: 3px; z-index: 1; }
.time { color: #6b7280; font: 11px ui-monospace, monospace; padding-top: 3px; text-align: right; }
.ev { border: 1px solid #9ca3af; border-radius: 4px; padding: 2px 5px; overflow-wrap: anywhere; }
.ev details { font: 11px ui-monospace, monospace; }
.ev summary { cursor: pointer; font: 12px system-ui, sans-serif; }
.ev pre { white-space: pre-wrap; margin: 2px 0; }
.lanebg { background: #f8fafc; border-left: 1px dashed #cbd5e1; border-right: 1px dashed #cbd5e1; }
"""


def _event_cell(event: TraceEvent, row: int) -> str:
    column = LANES.index(event.lane) + 2 if event.lane in LANES else 2
    took = f" [{event.duration * 1000:.0f} ms]" if event.duration is not None else ""
    detail = escape(json.dumps(event.detail, indent=1, sort_keys=True))
    ref = event.detail.get("sequence") or event.detail.get("version_id") or ""
    colour = COLOURS.get(event.kind, "#f3f4f6")
    return (
        f'<div class="time" style="grid-row:{row};grid-column:1">+{event.at:.3f}s</div>'
        f'<div class="ev k-{event.kind}" data-kind="{event.kind}" data-lane="{event.lane}" '
        f'data-ref="{escape(str(ref))}" style="grid-row:{row};grid-column:{column};background:{colour}">'
        f"<details><summary>{escape(event.title)}{escape(took)}</summary><pre>{detail}</pre></details></div>"
    )


def _drain_section(trace: DrainTrace) -> str:
    heads = "".join(
        f'<div class="head" data-lane="{lane}" style="grid-row:1;grid-column:{i + 2}">'
        f"{escape(LANE_TITLES[lane])}</div>"
        for i, lane in enumerate(LANES)
    )
    rows = len(trace.events) + 1
    backgrounds = "".join(
        f'<div class="lanebg" style="grid-row:2/{rows + 1};grid-column:{i + 2}"></div>'
        for i in range(len(LANES))
    )
    cells = "".join(_event_cell(event, row) for row, event in enumerate(trace.events, start=2))
    error = f'<p class="error">{escape(trace.error)}</p>' if trace.error else ""
    return (
        f'<section class="drain" data-drain="{trace.number}"><h2>drain {trace.number} '
        f'<span class="meta">(started {escape(trace.started)})</span></h2>'
        f'<p class="summary">{escape(summary_line(trace))}</p>{error}'
        f'<div class="lanes"><div class="head" style="grid-row:1;grid-column:1">time</div>'
        f"{heads}{backgrounds}{cells}</div></section>"
    )


def trace_document(*, test: str, outcome: str, traces: Sequence[DrainTrace]) -> dict[str, object]:
    """What the JSON file beside the page holds (and the page embeds)."""
    return {"test": test, "outcome": outcome, "drains": [trace.to_dict() for trace in traces]}


def render_html(*, test: str, outcome: str, traces: Sequence[DrainTrace]) -> str:
    legend = "".join(f'<span style="background:{colour}">{kind}</span>' for kind, colour in COLOURS.items())
    sections = "".join(_drain_section(trace) for trace in traces) or "<p>no drain ran</p>"
    data = json.dumps(trace_document(test=test, outcome=outcome, traces=traces)).replace("<", "\\u003c")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(test)}: receipt-compaction trace</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(test)}</h1>"
        f'<p class="meta">outcome: <b class="outcome">{escape(outcome)}</b>; {len(traces)} drains; '
        "click an event for its data</p>"
        f'<p class="legend">{legend}</p>{sections}'
        f'<script type="application/json" id="trace-data">{data}</script>'
        "</body></html>\n"
    )
