"""P1: the harness's own cost. Start-up of the embedded moto backend (against moto's bare
``ThreadedMotoServer``), the median wall time of each shipped scenario (resources, run, teardown; against the
same scenario's raw work replayed bare) with the AWS calls it made by operation (the harness's and the
handlers'), and the whole gate as users run it, on each lane (moto, dynamodb-local, localstack)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.aws_calls import AwsCalls, count_aws_calls
from benchmarks.raw_work import RawWork, record_raw_work, replay
from benchmarks.report import Row
from receipt_compaction.aws import AwsClients
from receipt_compaction.harness import handler_environment, pipeline_resources
from receipt_compaction.harness.backends import (
    DynamoDBLocalExecutor,
    LocalStackExecutor,
    MotoServerExecutor,
)
from receipt_compaction.harness.pipeline import LocalPipeline
from receipt_compaction.harness.scenarios.actions import BUILTIN_ACTIONS
from receipt_compaction.harness.scenarios.loader import load_scenario_yaml
from receipt_compaction.harness.scenarios.runner import run_scenario
from receipt_compaction.harness.scenarios.spec import Scenario, validate_scenario
from receipt_compaction.harness.settings import drain_timing

if TYPE_CHECKING:
    from collections.abc import Mapping

    from receipt_compaction.harness.backends import Backend, Executor
    from receipt_compaction.harness.settings import DrainTiming

__all__ = [
    "LANES",
    "REPO",
    "lane_executor",
    "measure_gate",
    "measure_scenarios",
    "measure_startup",
    "run_gate",
    "shipped_scenarios",
]

REPO = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
LANES = ("moto", "dynamodb-local", "localstack")
SCENARIO_GOAL = 3.0
"""Issue #15 P1: every shipped scenario at most 3x its raw work."""
MEDIAN_GOAL = 0.5
"""Seconds: the median scenario on the embedded backend."""
GATE_GOALS = {("moto", None): 20.0, ("moto", 2): 12.0}
"""Seconds: the gate serial and with ``-n 2``, here."""


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


def lane_executor(lane: str) -> Executor:
    """The backend a lane runs on, started as the plugin starts it."""
    if lane == "moto":
        return MotoServerExecutor(region=REGION)
    if lane == "dynamodb-local":
        return DynamoDBLocalExecutor(region=REGION)
    if lane == "localstack":
        return LocalStackExecutor(region=REGION, start_timeout=120.0)
    raise ValueError(f"unknown lane {lane!r}: choose from {', '.join(LANES)}")


@dataclass
class ScenarioRun:
    """The medians of one scenario's runs, its raw work and the AWS calls of its last run."""

    name: str
    wall: float
    raw: float
    work: RawWork
    calls: AwsCalls


def measure_scenarios(
    scenarios: list[Scenario], *, repeat: int, lane: str = "moto", each: bool = True
) -> list[Row]:
    """Each scenario ``repeat`` times through the real handlers on ``lane``, each run's raw work replayed
    bare; a row per scenario (when ``each``), then the sum and the median scenario."""
    executor = lane_executor(lane)
    backend = executor.start()
    try:
        runs = _run_scenarios(scenarios, repeat=repeat, backend=backend, lane=lane)
    finally:
        executor.stop()
    rows = [_scenario_row(run, lane) for run in runs] if each else []
    return rows + _summary_rows(runs, lane, repeat)


def _run_scenarios(
    scenarios: list[Scenario], *, repeat: int, backend: Backend, lane: str
) -> list[ScenarioRun]:
    clients = AwsClients.connect(**backend.client_kwargs())
    environ = backend.environ()
    timing = drain_timing(lane)
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for scenario in scenarios:
            walls, raws, work, calls = [], [], RawWork(), AwsCalls()
            for _ in range(repeat):
                wall, work, calls = _run_once(scenario, clients, environ, Path(scratch), timing)
                walls.append(wall)
                raws.append(replay(work, clients, Path(scratch)))
            run = ScenarioRun(scenario.name, statistics.median(walls), statistics.median(raws), work, calls)
            runs.append(run)
            print(  # progress: a long run that is stopped still says what it measured
                f"P1 {lane}: {run.name}: {run.wall:.3f} s, raw {run.raw:.3f} s, {run.calls.summary()}",
                file=sys.stderr,
                flush=True,
            )
    return runs


def _scenario_row(run: ScenarioRun, lane: str) -> Row:
    return Row(
        "P1",
        f"{lane}: scenario {run.name}",
        run.wall,
        "s",
        run.raw,
        "raw work replayed",
        goal=SCENARIO_GOAL,
        note=f"{run.work.summary()}; {run.calls.summary()}",
    )


def _summary_rows(runs: list[ScenarioRun], lane: str, repeat: int) -> list[Row]:
    calls = AwsCalls()
    for run in runs:
        calls.add(run.calls)
    per_scenario = f"per scenario: {calls.total / max(len(runs), 1):.0f} AWS calls"
    wall, raw = sum(run.wall for run in runs), sum(run.raw for run in runs)
    median = statistics.median(run.wall for run in runs)
    median_raw = statistics.median(run.raw for run in runs)
    runs_note = f"{len(runs)} scenarios, median of {repeat} runs each"
    return [
        Row(
            "P1",
            f"{lane}: all scenarios, sum of medians",
            wall,
            "s",
            raw,
            "raw work replayed",
            goal=SCENARIO_GOAL,
            note=f"{runs_note}; {per_scenario}, harness {calls.harness.total() / len(runs):.0f}, "
            f"handlers {calls.handlers.total() / len(runs):.0f}",
        ),
        Row(
            "P1",
            f"{lane}: median scenario" + (f" (goal <= {MEDIAN_GOAL:g} s)" if lane == "moto" else ""),
            median,
            "s",
            median_raw,
            "median raw work",
            note=("holds" if median <= MEDIAN_GOAL else "misses") if lane == "moto" else "",
        ),
    ]


def _run_once(
    scenario: Scenario,
    clients: AwsClients,
    environ: Mapping[str, str],
    scratch: Path,
    timing: DrainTiming,
) -> tuple[float, RawWork, AwsCalls]:
    """One run as the gate makes it: fresh resources and environment, the scenario, teardown."""
    started = time.perf_counter()
    with (
        count_aws_calls(clients) as calls,
        tempfile.TemporaryDirectory(dir=scratch) as root,
        pipeline_resources(clients, root=Path(root), region=REGION) as resources,
    ):
        full = {**environ, **resources.environ()}
        pipeline = LocalPipeline(
            clients, resources, full, quiet_period=timing.quiet_period, drain_deadline=timing.deadline
        )
        with handler_environment(full), record_raw_work(clients) as work:
            run_scenario(scenario, pipeline)
    return time.perf_counter() - started, work, calls


def measure_gate(scenario_sum: float | None, *, lane: str = "moto", workers: int | None = None) -> list[Row]:
    """The gate command users run, in a fresh process, on ``lane`` (``-n workers`` with xdist)."""
    options = [f"--receipt-compaction-backend={lane}"]
    if workers:
        options += ["-n", str(workers)]
    elapsed, summary = run_gate(*options)
    goal = GATE_GOALS.get((lane, workers))
    return [
        Row(
            "P1",
            f"{lane}: whole gate: pytest -p receipt_compaction scenarios {' '.join(options[1:])}".rstrip()
            + (f" (goal <= {goal:g} s: {'holds' if elapsed <= goal else 'misses'})" if goal else ""),
            elapsed,
            "s",
            scenario_sum if not workers else None,
            "sum of scenario medians" if not workers else "",
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
