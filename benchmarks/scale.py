"""Scale: how the cost of a fixed change grows with the collection.

For each size M (``--scale-words``, default 10,000, 50,000 and 200,000 words at dimension 64) a words
collection is built with real chromadb (benchmarks.scale_world), and for each snapshot layout (the per-file
layout, ``chunk_bytes=None``, and the chunked one when the store has it) it is published, changed by a
two-receipt merchant rename through the compactor's real path (``compact()``: two DynamoDB Queries, the
receipts' 100 word metadata updates) in a child process, published again, and restored cold and warm
(benchmarks.scale_measure). Each measure is shown against the same measure at the smallest size; the growth
exponent (the log-log slope over all sizes) of compaction time and peak memory is shown against 1 (linear).

One point at dimension 1536 (``--scale-wide-words``, default 10,000 words) is measured against the
dimension-64 point of the same size. Measured here (2 cores shared with other work): building 10,000 words at
dimension 1536 takes 70-130 s (115 MB on disk, against 4-9 s and 20 MB at dimension 64) and measuring it
about 1 min per layout, so one such point fits a run; 50,000 would take 6-10 min to build alone (200,000 at
dimension 64 takes 400-460 s). ``--scale-wide-words 0`` skips it; ``--scale-cache DIR`` keeps the built
collections for the next run. A default run took 16 min with the per-file layout alone and an empty cache
(11 min of it building), and 7.5-11 min with both layouts from a filled cache: about 19-22 min from empty.

Goals from issue 18: a metadata-only publish uploads at most 2 MB at 50,000 words and at most 1.5x at
200,000 what it uploads at 10,000; the warm restore downloads at most 1.1x the bytes of the objects the
change added; a cold restore takes at most 1.1x a plain download of the same objects; compaction time and
memory grow no faster than the collection (exponent <= 1).
"""

from __future__ import annotations

import inspect
import math
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.moto_process import MotoProcess
from benchmarks.report import Row
from benchmarks.scale_measure import Layout, Point, measure_point
from benchmarks.scale_plots import plot_bytes, plot_times
from benchmarks.scale_world import build_collection, seed_change_table
from receipt_compaction.aws import AwsClients
from receipt_compaction.snapshot import SnapshotStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["ScaleRun", "layouts", "measure_scale"]

SECTION = "Scale"
NARROW = 64
WIDE = 1536
BUDGET_AT = 50_000
BUDGET_BYTES = 2_000_000
GROWTH_GOAL = 1.5
WARM_GOAL = 1.1
COLD_GOAL = 1.1
EXPONENT_GOAL = 1.0


@dataclass
class ScaleRun:
    points: list[Point] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)


def layouts() -> list[Layout]:
    """The per-file layout, and the chunked one when this SnapshotStore has ``chunk_bytes``."""
    parameter = inspect.signature(SnapshotStore).parameters.get("chunk_bytes")
    if parameter is None:
        return [Layout("per-file", {})]
    default = parameter.default
    chunked = f"chunked {default // 1024} KiB" if isinstance(default, int) else "chunked"
    return [Layout("per-file", {"chunk_bytes": None}), Layout(chunked, {})]


def measure_scale(
    scratch: Path,
    *,
    words: list[int],
    wide_words: int,
    repeat: int,
    plots: Path,
    cache: Path | None = None,
    say: Callable[[str], None] = print,
) -> ScaleRun:
    """Measure every size and layout, then write the plots into ``plots``."""
    sizes = sorted(set(words))
    run = ScaleRun()
    with MotoProcess() as backend:
        clients = AwsClients.connect(**backend.client_kwargs())
        grid = [(size, NARROW) for size in sizes] + ([(wide_words, WIDE)] if wide_words else [])
        for size, dimension in grid:
            built = build_collection(cache or scratch / "collections", words=size, dimension=dimension)
            say(f"  scale: {size:,} words, dim {dimension}: built in {built.seconds:.0f} s")
            table = seed_change_table(clients, size)
            for layout in layouts():
                point = measure_point(
                    backend,
                    clients,
                    built,
                    layout,
                    table=table,
                    scratch=scratch / uuid.uuid4().hex[:8],
                    repeat=repeat,
                )
                say(f"    {layout.name}: publish {point.publish_bytes:,} B, compact {point.compact_s:.2f} s")
                run.points.append(point)
    run.rows = scale_rows(run.points)
    narrow = [point for point in run.points if point.dimension == NARROW]
    run.figures = [
        ("bytes uploaded per publish against collection size", plot_bytes(narrow, plots / "scale-bytes.png")),
        ("time against collection size", plot_times(narrow, plots / "scale-time.png")),
    ]
    return run


def scale_rows(points: list[Point]) -> list[Row]:
    rows: list[Row] = []
    names = list(dict.fromkeys(point.layout for point in points))
    for name in names:
        series = sorted(
            (p for p in points if p.layout == name and p.dimension == NARROW), key=lambda p: p.words
        )
        for point in series:
            rows += _point_rows(point, series[0])
        rows += _exponent_rows(series)
        for wide in (p for p in points if p.layout == name and p.dimension == WIDE):
            same = next((p for p in series if p.words == wide.words), None)
            rows += _point_rows(wide, same, wide=True)
    for name in names[1:]:  # each newer layout against the first (per-file) at the same size
        for point in (p for p in points if p.layout == name):
            older = next(
                p
                for p in points
                if p.layout == names[0] and (p.words, p.dimension) == (point.words, point.dimension)
            )
            rows += _against_layout(point, older)
    return rows


_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("metadata-only publish, bytes uploaded", "publish_bytes", "B"),
    ("metadata-only publish, S3 requests", "publish_request_count", "requests"),
    ("metadata-only publish time", "publish_s", "s"),
    ("compaction time (compact(): 2 receipts)", "compact_s", "s"),
    ("compaction + publish, peak RSS", "peak_mib", "MiB"),
    ("cold restore time", "cold_s", "s"),
    ("cold restore, bytes downloaded", "cold_bytes", "B"),
    ("warm restore time", "warm_s", "s"),
    ("warm restore, bytes downloaded", "warm_bytes", "B"),
)


def _point_rows(point: Point, base: Point | None, *, wide: bool = False) -> list[Row]:
    """Each measure against the same measure at ``base`` (the smallest size, or for the wide point the
    dimension-64 point of the same size), then the point's goals."""
    where = f"{point.words:,} words, dim {point.dimension}, {point.layout}"
    label = (
        f"dim {base.dimension} at {base.words:,}"
        if wide and base
        else f"at {base.words:,} words"
        if base
        else ""
    )
    rows = [_collection_row(point, base, where, label)]
    for measure, attribute, unit in _MEASURES:
        value = float(getattr(point, attribute))
        baseline = float(getattr(base, attribute)) if base is not None and base is not point else None
        goal = GROWTH_GOAL if attribute == "publish_bytes" and baseline is not None and not wide else None
        note = _requests_note(point) if attribute == "publish_request_count" else ""
        rows.append(Row(SECTION, f"{measure} ({where})", value, unit, baseline, label, goal=goal, note=note))
    return rows + _goal_rows(point, where)


def _collection_row(point: Point, base: Point | None, where: str, label: str) -> Row:
    baseline = float(base.disk_bytes) if base is not None and base is not point else None
    return Row(
        SECTION,
        f"collection on disk ({where})",
        point.disk_bytes,
        "B",
        baseline,
        label,
        note=f"built in {point.build_s:.0f} s; first publish {point.first_publish_bytes:,} B",
    )


def _goal_rows(point: Point, where: str) -> list[Row]:
    rows = []
    if point.words == BUDGET_AT and point.dimension == NARROW:
        rows.append(
            Row(
                SECTION,
                f"metadata-only publish, bytes uploaded ({where})",
                point.publish_bytes,
                "B",
                BUDGET_BYTES,
                "issue 18's budget, 2 MB",
                goal=1.0,
            )
        )
    rows.append(
        Row(
            SECTION,
            f"warm restore, bytes downloaded ({where})",
            point.warm_bytes,
            "B",
            point.changed_bytes,
            "objects the change added",
            goal=WARM_GOAL,
            note=f"{point.warm_gets} GETs, the manifest's {point.manifest_bytes:,} B included; "
            f"{_ratio(point.warm_bytes - point.manifest_bytes, point.changed_bytes)} without it",
        )
    )
    rows.append(
        Row(
            SECTION,
            f"cold restore time ({where})",
            point.cold_s,
            "s",
            point.plain_s,
            f"plain download of the same objects, {4} threads",
            goal=COLD_GOAL,
        )
    )
    return rows


def _against_layout(point: Point, older: Point) -> list[Row]:
    """What the newer layout costs where the old one is the alternative: bytes uploaded per publish, and the
    cold restore against a plain download of the old layout's whole files (what a restore must beat)."""
    where = f"{point.words:,} words, dim {point.dimension}: {point.layout} against {older.layout}"
    return [
        Row(
            SECTION,
            f"metadata-only publish, bytes uploaded ({where})",
            point.publish_bytes,
            "B",
            older.publish_bytes,
            f"{older.layout}, same change",
            note=f"{point.publish_request_count} against {older.publish_request_count} requests",
        ),
        Row(
            SECTION,
            f"cold restore time ({where})",
            point.cold_s,
            "s",
            older.plain_s,
            f"plain download of the {older.layout} objects",
            goal=COLD_GOAL,
        ),
    ]


def _exponent_rows(series: list[Point]) -> list[Row]:
    if len(series) < 2:
        return []
    span = f"{series[0].words:,}-{series[-1].words:,} words, {series[0].layout}"
    rows = []
    for measure, value in (
        ("compaction time", lambda p: p.compact_s),
        ("compaction + publish time", lambda p: p.compact_s + p.publish_s),
        ("compaction + publish peak RSS", lambda p: p.peak_mib),
        ("metadata-only publish bytes", lambda p: float(p.publish_bytes)),
    ):
        slope = growth_exponent([p.words for p in series], [value(p) for p in series])
        goal = EXPONENT_GOAL if not measure.startswith("metadata") else None
        rows.append(
            Row(
                SECTION,
                f"{measure}: growth exponent ({span})",
                slope,
                "exponent",
                1.0,
                "linear growth",
                goal=goal,
                note="log-log slope",
            )
        )
    return rows


def growth_exponent(sizes: list[int], values: list[float]) -> float:
    """The least-squares slope of log(value) against log(size): 1 is linear, 0 constant."""
    logs = [(math.log(size), math.log(max(value, 1e-9))) for size, value in zip(sizes, values, strict=True)]
    xs, ys = zip(*logs, strict=True)
    slope: Any = np.polyfit(xs, ys, 1)[0]
    return float(slope)


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def _requests_note(point: Point) -> str:
    return ", ".join(f"{count} {method}" for method, count in sorted(point.publish_requests.items()))
