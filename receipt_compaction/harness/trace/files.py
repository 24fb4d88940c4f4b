"""Writing a test's traces: ``{dir}/{test}.html`` and the JSON beside it (``{test}.json``)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from receipt_compaction.harness.trace.html import render_html, trace_document

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from receipt_compaction.harness.trace.events import DrainTrace

__all__ = ["trace_file_stem", "write_trace_files", "write_trace_json"]

MAX_STEM = 150


def trace_file_stem(test: str) -> str:
    """A file name for a test id (``tests/x.py::test_a[1]`` -> ``tests_x.py__test_a_1``): unique per test
    within a run, safe on every file system."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test).strip("_.") or "test"
    return stem[-MAX_STEM:]


def write_trace_json(path: Path, *, test: str, outcome: str, traces: Sequence[DrainTrace]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = trace_document(test=test, outcome=outcome, traces=traces)
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


def write_trace_files(
    directory: Path, *, test: str, outcome: str, traces: Sequence[DrainTrace]
) -> tuple[Path, Path]:
    """Write the page and its JSON for one test; returns (html, json)."""
    stem = trace_file_stem(test)
    page = directory / f"{stem}.html"
    directory.mkdir(parents=True, exist_ok=True)
    page.write_text(render_html(test=test, outcome=outcome, traces=traces))
    data = write_trace_json(directory / f"{stem}.json", test=test, outcome=outcome, traces=traces)
    return page, data
