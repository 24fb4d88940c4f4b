"""The Scale benchmark section: its growth exponent, and one quick run end to end that writes its rows for
every size and layout and its growth plots beside latest.md, linked from it (no timing is asserted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from benchmarks.scale import growth_exponent, layouts
from tests.support.benchmarks import quick_benchmark_run

if TYPE_CHECKING:
    from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_growth_exponent_is_the_log_log_slope() -> None:
    sizes = [10_000, 50_000, 200_000]
    assert growth_exponent(sizes, [float(size) for size in sizes]) == pytest.approx(1.0)
    assert growth_exponent(sizes, [3.0, 3.0, 3.0]) == pytest.approx(0.0)
    assert growth_exponent(sizes, [float(size) ** 2 for size in sizes]) == pytest.approx(2.0)


@pytest.mark.slow  # ~60 s: a moto server, two tiny collections, a compaction child per size and layout
def test_a_quick_scale_run_writes_its_rows_and_plots(tmp_path: Path) -> None:
    document, _ = quick_benchmark_run(tmp_path, only="scale", timeout=900)
    rows = document["rows"]
    assert {row["section"] for row in rows} == {"Scale"}
    for layout in layouts():
        for words in ("500 words", "1,000 words"):
            measures = [
                row["measure"] for row in rows if f"{words}, dim 64, {layout.name})" in row["measure"]
            ]
            assert any(m.startswith("metadata-only publish, bytes uploaded") for m in measures), (
                layout,
                words,
            )
            assert any(m.startswith("warm restore, bytes downloaded") for m in measures), (layout, words)
        growth = [
            row for row in rows if "growth exponent" in row["measure"] and layout.name in row["measure"]
        ]
        assert len(growth) == 4
    publishes = [row for row in rows if row["measure"].startswith("metadata-only publish, bytes uploaded")]
    assert all(row["value"] > 0 for row in publishes)
    larger = [row for row in publishes if "1,000 words" in row["measure"]]
    assert larger
    assert all(row["baseline"] and row["ratio"] > 0 for row in larger)  # against the 500-word point
    markdown = (tmp_path / "latest.md").read_text()
    assert [figure["file"] for figure in document["figures"]] == ["scale-bytes.png", "scale-time.png"]
    for figure in document["figures"]:
        png = (tmp_path / figure["file"]).read_bytes()
        assert png.startswith(PNG_MAGIC)
        assert len(png) > 10_000  # axes, lines and a legend, not an empty canvas
        assert f"]({figure['file']})" in markdown
