"""Run one benchmark module in a fresh interpreter and hand back the last line it printed.

Measured work that must not share a process with the harness (peak memory, a compaction at scale) runs as
``python -m benchmarks.<module>``; its report is the last line of its standard output.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.harness import REPO


def run_child(
    module: str, arguments: list[str], *, environ: dict[str, str] | None = None, timeout: float
) -> str:
    """The last stdout line of ``python -m benchmarks.<module> ARGUMENTS``; a failure raises with stderr."""
    finished = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *arguments],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(arguments[:1])} failed:\n{finished.stderr[-3000:]}")
    return finished.stdout.strip().splitlines()[-1]
