"""The timeline of every drain, as data, and its renderings.

``events`` is the model (``DrainTrace``, ``TraceEvent``, the lanes), ``recorder`` turns what the library
emits (``receipt_compaction.observe``) and what the harness sees into it, ``text`` renders a compact timeline
for a failing test's report, ``html`` a self-contained swimlane page, ``files`` writes them.
"""

from __future__ import annotations

from receipt_compaction.harness.trace.events import KINDS, LANE_TITLES, LANES, DrainTrace, TraceEvent
from receipt_compaction.harness.trace.files import trace_file_stem, write_trace_files, write_trace_json
from receipt_compaction.harness.trace.html import render_html
from receipt_compaction.harness.trace.recorder import DrainRecorder, traced_drain, traced_handler
from receipt_compaction.harness.trace.text import render_text, summary_line

__all__ = [
    "KINDS",
    "LANES",
    "LANE_TITLES",
    "DrainRecorder",
    "DrainTrace",
    "TraceEvent",
    "render_html",
    "render_text",
    "summary_line",
    "trace_file_stem",
    "traced_drain",
    "traced_handler",
    "write_trace_files",
    "write_trace_json",
]
