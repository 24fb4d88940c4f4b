"""The benchmark runner: its table arithmetic, and one quick run of the cheap sections end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.report import Results, Row
from tests.support.benchmarks import quick_benchmark_run


def test_a_row_compares_its_ratio_with_the_goal() -> None:
    missed = Row("P9", "slow thing", 3.0, "s", baseline=2.0, baseline_label="bare", goal=1.2)
    held = Row("P9", "fast thing", 2.2, "s", baseline=2.0, baseline_label="bare", goal=1.2)
    plain = Row("P9", "no baseline", 5.0, "s")
    assert (missed.ratio, missed.holds) == (1.5, False)
    assert held.holds is True
    assert (plain.ratio, plain.holds) == (None, None)
    table = Results(settings={"repeat": 1}, rows=[missed, held, plain]).markdown()
    assert "| P9 | slow thing | 3.000 s | 2.000 s (bare) | 1.50x | <= 1.2x **misses** |" in table
    assert "| P9 | fast thing | 2.200 s | 2.000 s (bare) | 1.10x | <= 1.2x holds |" in table


@pytest.mark.slow  # ~3.5 s: a moto server and three benchmark sections in a subprocess
def test_a_quick_run_writes_the_table_as_markdown_and_json(tmp_path: Path) -> None:
    document, printed = quick_benchmark_run(tmp_path, only="P2,P4,P5", timeout=600)
    sections = {row["section"] for row in document["rows"]}
    assert sections == {"P2", "P4", "P5"}
    goals = [row for row in document["rows"] if row["goal"] is not None]
    assert goals
    assert all(row["ratio"] > 0 and isinstance(row["holds"], bool) for row in goals)
    assert document["machine"]["cores"] >= 1
    markdown = (tmp_path / "latest.md").read_text()
    assert markdown.startswith("# Benchmark results")
    assert "| P5 | cold restore into an empty EFS cache |" in markdown
    assert markdown in printed
