"""The Scale section's growth plots: PNGs of bytes uploaded and of time against collection size, one line per
snapshot layout, on log-log axes (a straight line's slope is the growth exponent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: no display here, and none wanted

import matplotlib.pyplot as plt  # after the backend is chosen
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from benchmarks.scale_measure import Point

__all__ = ["plot_bytes", "plot_times"]

_STYLES = ("-", "--", ":", "-.")
_COLORS = ("C0", "C2", "C4", "C5")
_MARKERS = ("o", "s", "^", "v")


def plot_bytes(points: list[Point], path: Path) -> Path:
    """Bytes a metadata-only publish uploads, per layout, beside the collection's size on disk."""
    figure, axes = plt.subplots(figsize=(9, 4.5))
    _line(axes, points, None, lambda p: p.disk_bytes / 2**20, "collection on disk", color="grey")
    for color, layout in zip(_COLORS, _layouts(points), strict=False):
        publish = f"publish uploads, {layout}"
        _line(axes, points, layout, lambda p: p.publish_bytes / 2**20, publish, color=color)
        warm = f"warm restore downloads, {layout}"
        _line(axes, points, layout, lambda p: p.warm_bytes / 2**20, warm, style=":", color=color, marker="x")
    axes.axhline(2_000_000 / 2**20, color="C3", linewidth=0.8, label="goal at 50,000 words: 2 MB")
    _finish(
        figure, axes, points, unit="MiB", title="Metadata-only change of 2 receipts: bytes moved", path=path
    )
    return path


def plot_times(points: list[Point], path: Path) -> Path:
    """Compaction, publish and restore times, per layout."""
    figure, axes = plt.subplots(figsize=(9, 4.5))
    measures: tuple[tuple[str, str, Callable[[Point], float]], ...] = (
        ("compaction", "C0", lambda p: p.compact_s),
        ("publish", "C1", lambda p: p.publish_s),
        ("cold restore", "C2", lambda p: p.cold_s),
        ("warm restore", "C3", lambda p: p.warm_s),
    )
    for style, marker, layout in zip(_STYLES, _MARKERS, _layouts(points), strict=False):
        for name, color, value in measures:
            _line(axes, points, layout, value, f"{name}, {layout}", style=style, color=color, marker=marker)
    _finish(figure, axes, points, unit="seconds", title="Metadata-only change of 2 receipts: time", path=path)
    return path


def _layouts(points: list[Point]) -> list[str]:
    return list(dict.fromkeys(point.layout for point in points))


def _line(
    axes: Axes,
    points: list[Point],
    layout: str | None,
    value: Callable[[Point], float],
    label: str,
    *,
    style: str = "-",
    color: str,
    marker: str = "o",
) -> None:
    """One series; ``layout`` None: the first layout's points (a measure no layout changes)."""
    chosen = layout if layout is not None else next(iter(_layouts(points)), None)
    series = sorted((p for p in points if p.layout == chosen), key=lambda p: p.words)
    axes.plot(
        [p.words for p in series], [value(p) for p in series], style, marker=marker, color=color, label=label
    )


def _finish(figure: Figure, axes: Axes, points: list[Point], *, unit: str, title: str, path: Path) -> None:
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    axes.set_xticks(sorted({point.words for point in points}))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xlabel("collection size (words, dimension 64)")
    axes.set_ylabel(unit)
    axes.set_title(title)
    axes.grid(visible=True, which="both", linewidth=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the lines, not on them
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
