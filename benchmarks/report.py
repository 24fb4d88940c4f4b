"""The results of one benchmark run: rows of measure / baseline / ratio / goal, the machine they ran on, and
their text, Markdown and JSON renderings."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Results", "Row", "machine"]


@dataclass(frozen=True)
class Row:
    """One measurement beside its baseline from the same run; ``goal`` is the highest acceptable ratio."""

    section: str
    measure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    goal: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def holds(self) -> bool | None:
        ratio = self.ratio
        if self.goal is None or ratio is None:
            return None
        return ratio <= self.goal

    def cells(self) -> list[str]:
        ratio = self.ratio
        verdict = {None: "", True: "holds", False: "**misses**"}[self.holds]
        goal = f"<= {self.goal:g}x {verdict}" if self.goal is not None else ""
        baseline = f"{_number(self.baseline, self.unit)} ({self.baseline_label})" if self.baseline else ""
        return [
            self.section,
            self.measure + (f" ({self.note})" if self.note else ""),
            _number(self.value, self.unit),
            baseline,
            f"{ratio:.2f}x" if ratio is not None else "",
            goal,
        ]


@dataclass
class Results:
    settings: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    seconds: float = 0.0
    figures: list[tuple[str, str]] = field(default_factory=list)
    """(title, file name) of plots written beside latest.md, linked from it."""

    def add(self, rows: list[Row]) -> None:
        self.rows += rows

    def markdown(self) -> str:
        header = ["", "measure", "value", "baseline (same run)", "ratio", "goal"]
        lines = [
            f"# Benchmark results, {self.started}",
            "",
            f"Machine: {describe(machine())}. Settings: {_settings(self.settings)}. "
            f"Whole run: {self.seconds:.0f} s.",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        lines += ["| " + " | ".join(row.cells()) + " |" for row in self.rows]
        if self.figures:
            lines += ["", "Plots (same run):", ""]
            lines += [f"- [{title}]({name})" for title, name in self.figures]
            lines += [""] + [f"![{title}]({name})" for title, name in self.figures]
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        rows = [{**asdict(row), "ratio": row.ratio, "holds": row.holds} for row in self.rows]
        document = {
            "started": self.started,
            "seconds": self.seconds,
            "machine": machine(),
            "settings": self.settings,
            "rows": rows,
            "figures": [{"title": title, "file": name} for title, name in self.figures],
        }
        return json.dumps(document, indent=1, default=str)  # settings may hold paths

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        markdown, data = directory / "latest.md", directory / "latest.json"
        markdown.write_text(self.markdown())
        data.write_text(self.to_json() + "\n")
        return markdown, data


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "chromadb": _version("chromadb"),
        "moto": _version("moto"),
        "boto3": _version("boto3"),
        "commit": _commit(),
    }


def describe(facts: dict[str, Any]) -> str:
    return (
        f"{facts['cpu']}, {facts['cores']} cores, {facts['memory_gib']} GiB, {facts['system']}, "
        f"Python {facts['python']}, chromadb {facts['chromadb']}, moto {facts['moto']}, "
        f"boto3 {facts['boto3']}, commit {facts['commit']}"
    )


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "B":
        return f"{value:,.0f} B"
    if unit == "MiB":
        return f"{value:,.1f} MiB"
    if unit == "exponent":
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    return f"{value:,.0f} {unit}"


def _settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in settings.items())


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip()
