"""P1: the harness's own cost. Start-up of the embedded moto backend (against moto's bare
``ThreadedMotoServer``), the median wall time of each shipped scenario (resources, run, teardown; against the
same scenario's raw work replayed bare), and the whole gate as users run it."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.raw_work import RawWork, record_raw_work, replay
from benchmarks.report import Row
from receipt_compaction.aws import AwsClients
from receipt_compaction.harness import handler_environment, pipeline_resources
from receipt_compaction.harness.backends import MotoServerExecutor
from receipt_compaction.harness.pipeline import LocalPipeline
from receipt_compaction.harness.scenarios.actions import BUILTIN_ACTIONS
from receipt_compaction.harness.scenarios.loader import load_scenario_yaml
from receipt_compaction.harness.scenarios.runner import run_scenario
from receipt_compaction.harness.scenarios.spec import Scenario, validate_scenario

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["REPO", "measure_gate", "measure_scenarios", "measure_startup", "run_gate", "shipped_scenarios"]

REPO = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


_OUR_START = """
import time
started = time.perf_counter()
from receipt_compaction.harness.backends import MotoServerExecutor
MotoServerExecutor(region="us-east-1").start()
print(time.perf_counter() - started)
"""
_BARE_START = """
import time
started = time.perf_counter()
from moto.server import ThreadedMotoServer
ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False).start()
print(time.perf_counter() - started)
"""


def measure_startup(*, repeat: int) -> list[Row]:
    """In fresh processes, imports included: what a test session pays before its first request."""
    ours, bare = [], []
    for _ in range(repeat):
        ours.append(_seconds_printed(_OUR_START))
        bare.append(_seconds_printed(_BARE_START))
    return [
        Row(
            "P1",
            "moto backend start-up in a fresh process",
            statistics.median(ours),
            "s",
            baseline=statistics.median(bare),
            baseline_label="import moto + bare ThreadedMotoServer.start()",
        )
    ]


def _seconds_printed(program: str) -> float:
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    return float(finished.stdout.strip().splitlines()[-1])


def shipped_scenarios(directory: Path) -> list[Scenario]:
    actions = {action.name: action for action in BUILTIN_ACTIONS}
    return [
        validate_scenario(path, load_scenario_yaml(path), actions)
        for path in sorted(directory.glob("*.scenario.yaml"))
    ]


def measure_scenarios(scenarios: list[Scenario], *, repeat: int) -> list[Row]:
    """Each scenario ``repeat`` times through the real handlers, each run's raw work replayed bare."""
    rows = []
    with MotoServerExecutor(region=REGION) as backend, tempfile.TemporaryDirectory() as scratch:
        clients = AwsClients.connect(**backend.client_kwargs())
        environ = backend.environ()
        totals: list[float] = [0.0, 0.0]
        for scenario in scenarios:
            walls, raws, work = [], [], RawWork()
            for _ in range(repeat):
                wall, work = _run_once(scenario, clients, environ, Path(scratch))
                walls.append(wall)
                raws.append(replay(work, clients, Path(scratch)))
            wall, raw = statistics.median(walls), statistics.median(raws)
            totals[0] += wall
            totals[1] += raw
            rows.append(
                Row(
                    "P1",
                    f"scenario {scenario.name}",
                    wall,
                    "s",
                    raw,
                    "raw work replayed",
                    note=work.summary(),
                )
            )
        rows.append(
            Row("P1", "all scenarios, sum of medians", totals[0], "s", totals[1], "raw work replayed")
        )
    return rows


def _run_once(
    scenario: Scenario, clients: AwsClients, environ: Mapping[str, str], scratch: Path
) -> tuple[float, RawWork]:
    """One run as the gate makes it: fresh resources and environment, the scenario, teardown."""
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(dir=scratch) as root,
        pipeline_resources(clients, root=Path(root), region=REGION) as resources,
    ):
        full = {**environ, **resources.environ()}
        with handler_environment(full), record_raw_work(clients) as work:
            run_scenario(scenario, LocalPipeline(clients, resources, full))
    return time.perf_counter() - started, work


def measure_gate(scenario_sum: float | None) -> list[Row]:
    """The gate command users run, in a fresh process, on the default embedded backend."""
    elapsed, summary = run_gate()
    return [
        Row(
            "P1",
            "whole gate: pytest -p receipt_compaction scenarios",
            elapsed,
            "s",
            scenario_sum,
            "sum of scenario medians above",
            note=summary,
        )
    ]


def run_gate(*options: str) -> tuple[float, str]:
    """Run ``pytest -p receipt_compaction scenarios`` with these options; its wall time and summary line."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "receipt_compaction",
        "scenarios",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    started = time.perf_counter()
    finished = subprocess.run(
        [*command, *options], cwd=REPO, capture_output=True, text=True, check=False, timeout=1800
    )
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"the gate failed (exit {finished.returncode}):\n{finished.stdout[-3000:]}")
    return elapsed, finished.stdout.strip().splitlines()[-1].strip("= ")
