"""Running ``python -m benchmarks --quick`` as a user would, for tests of the benchmark sections."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from tests.support.paths import REPO

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["quick_benchmark_run"]


def quick_benchmark_run(out: Path, *, only: str, timeout: float) -> tuple[dict[str, Any], str]:
    """Run the ``only`` sections at ``--quick`` sizes into ``out``: the written latest.json, parsed, and what
    the run printed."""
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", only, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert finished.returncode == 0, finished.stderr
    document: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return document, finished.stdout
