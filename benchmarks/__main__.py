"""Run the benchmarks, print the table, and write it as Markdown and JSON.

    python -m benchmarks                  # every section at the default sizes (a few minutes here)
    python -m benchmarks --only P2,P4     # some sections
    python -m benchmarks --quick          # tiny sizes: checks that everything runs, measures little
    python -m benchmarks --only P1 --lanes moto   # P1 on the embedded backend only
    python -m benchmarks --only scale     # the Scale section alone: ~20 min here, 11 of them building

Every figure sits beside a baseline measured in the same run, because machines are shared and noisy.
P1 runs on the embedded moto backend (the harness as users run it), then on DynamoDB Local and LocalStack
(``--lanes``: their rows are labelled by lane); P3, P4, P5 and the compaction memory on
a moto server in a process of its own, so the server's work does not compete with the measured code for
the interpreter lock (S3 and DynamoDB never run inside a Lambda's process); P3 also on DynamoDB Local
(``--no-dynamodb-local`` skips it), whose Query costs what DynamoDB's does rather than a table scan.
Scale (benchmarks.scale) builds collections of up to 200,000 words and writes its growth plots
(scale-*.png) beside latest.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from benchmarks.compaction_grid import measure_compaction_grid
from benchmarks.delta_reads import measure_delta_reads
from benchmarks.harness import (
    LANES,
    REGION,
    REPO,
    measure_gate,
    measure_scenarios,
    measure_startup,
    shipped_scenarios,
)
from benchmarks.memory import measure_compaction_memory, measure_gate_on_moto_process
from benchmarks.moto_process import MotoProcess
from benchmarks.report import Results, Row
from benchmarks.scale import measure_scale
from benchmarks.snapshots import measure_snapshots
from benchmarks.stream_stage import measure_stream_stage
from receipt_compaction.aws import AwsClients
from receipt_compaction.harness.backends import BackendUnavailable
from receipt_compaction.harness.backends.dynamodb_local import DynamoDBLocalExecutor

SECTIONS = ("P1", "P2", "P3", "P4", "P5", "memory", "scale")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        _quick(args)
    only = {name.strip().lower() for name in args.only.split(",")}
    unknown = only - {section.lower() for section in SECTIONS}
    if unknown:
        raise SystemExit(
            f"--only: unknown section {', '.join(sorted(unknown))}: choose from {', '.join(SECTIONS)}"
        )
    # Fault scenarios log the failures they provoke; the table is the output here.
    logging.getLogger("receipt_compaction").setLevel(logging.CRITICAL)
    settings = {name: value for name, value in vars(args).items() if name not in {"out", "only"}}
    results = Results(settings={**settings, "only": ",".join(sorted(only))})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rc-bench-") as scratch:
        for section, run in _plan(args, only, Path(scratch), results):
            _say(f"{section} ... ({time.perf_counter() - started:.0f} s so far)")
            results.add(run())
    results.seconds = time.perf_counter() - started
    print(results.markdown())
    markdown, data = results.write(args.out)
    _say(f"written: {markdown} and {data}")
    return 0


def _plan(
    args: argparse.Namespace, only: set[str], scratch: Path, results: Results
) -> list[tuple[str, Callable[[], list[Row]]]]:
    plan: list[tuple[str, Callable[[], list[Row]]]] = []
    if "p2" in only:
        plan.append(
            (
                "P2 stream stage",
                lambda: measure_stream_stage(records=args.stream_records, repeat=args.repeat * 3),
            )
        )
    if "p3" in only:
        plan.append(
            (
                "P3 delta reads",
                lambda: measure_delta_reads(
                    scratch / "delta-reads",
                    words=args.delta_words,
                    dimension=args.dimension,
                    repeat=args.repeat * 3,
                ),
            )
        )
    if only & {"p3", "p4", "p5", "memory"}:
        plan.append(("P3-P5, memory (moto server process)", lambda: _on_moto_process(args, only, scratch)))
    if "p3" in only and not args.no_dynamodb_local:
        plan.append(("P3 on DynamoDB Local", lambda: _on_dynamodb_local(args, scratch)))
    if "p1" in only:
        plan.append(("P1 moto start-up", lambda: measure_startup(repeat=args.repeat)))
        for lane in args.lanes:
            plan.append(
                (f"P1 {lane}: scenarios, then the whole gate", partial(_scenarios_and_gate, args, lane))
            )
    if "memory" in only and not args.quick:
        plan.append(("gate against a moto server process (memory)", measure_gate_on_moto_process))
    if "scale" in only:
        plan.append(("Scale (moto server process)", lambda: _scale(args, scratch / "scale", results)))
    return plan


def _scale(args: argparse.Namespace, scratch: Path, results: Results) -> list[Row]:
    """The Scale rows; its plots go beside latest.md and are linked from it."""
    run = measure_scale(
        scratch,
        words=args.scale_words,
        wide_words=args.scale_wide_words,
        repeat=args.scale_repeat,
        plots=args.out,
        cache=args.scale_cache,
        say=_say,
    )
    results.figures += [(title, path.name) for title, path in run.figures]
    return run.rows


def _scenarios_and_gate(args: argparse.Namespace, lane: str) -> list[Row]:
    """Each shipped scenario on ``lane``, then the gate against the sum of their medians; on moto also the
    gate with ``-n 2``. Lanes other than moto give their summary rows only, from ``--lane-repeat`` runs."""
    scenarios = shipped_scenarios(REPO / "scenarios")
    moto = lane == "moto"
    repeat = args.repeat if moto else args.lane_repeat
    try:
        if args.quick:  # the gate takes a minute or more: not for a smoke run
            return measure_scenarios(scenarios[:2], repeat=1, lane=lane, each=moto)
        rows = measure_scenarios(scenarios, repeat=repeat, lane=lane, each=moto)
    except BackendUnavailable as error:
        _say(f"P1 {lane}: skipped, the backend cannot start here: {error}")
        return []
    total = next(row.value for row in rows if row.measure.endswith("all scenarios, sum of medians"))
    rows += measure_gate(total, lane=lane)
    if moto:
        rows += measure_gate(total, lane=lane, workers=2)
    return rows


def _on_moto_process(args: argparse.Namespace, only: set[str], scratch: Path) -> list[Row]:
    rows: list[Row] = []
    with MotoProcess() as backend:
        clients = AwsClients.connect(**backend.client_kwargs())
        if "p3" in only:
            rows += _grid(args, clients, scratch / "p3", lane="moto")
        if only & {"p4", "p5"}:
            snapshot_rows = measure_snapshots(
                clients,
                scratch / "p45",
                words=args.snapshot_words,
                dimension=args.snapshot_dimension,
                repeat=args.repeat * 3,
            )
            rows += [row for row in snapshot_rows if row.section.lower() in only]
        if "memory" in only:
            rows += measure_compaction_memory(
                backend,
                scratch / "memory",
                words=args.memory_words,
                messages=args.memory_messages,
                dimension=args.dimension,
            )
    return rows


def _on_dynamodb_local(args: argparse.Namespace, scratch: Path) -> list[Row]:
    """The P3 grid with DynamoDB served by DynamoDB Local (S3 by moto beside it, unused by compact())."""
    with DynamoDBLocalExecutor(region=REGION) as backend:
        clients = AwsClients.connect(**backend.client_kwargs())
        return _grid(args, clients, scratch / "p3-dynamodb-local", lane="dynamodb-local")


def _grid(args: argparse.Namespace, clients: AwsClients, scratch: Path, *, lane: str) -> list[Row]:
    """The P3 grid at the sizes the arguments name, on ``lane``'s clients."""
    return measure_compaction_grid(
        clients,
        scratch,
        messages=args.grid_messages,
        words=args.grid_words,
        repeat=args.repeat,
        dimension=args.dimension,
        lane=lane,
        receipts_per_image=args.grid_receipts_per_image,
    )


def _quick(args: argparse.Namespace) -> None:
    args.repeat = 1
    args.stream_records = 600
    args.grid_messages, args.grid_words = [10], [200]
    args.delta_words = 200
    args.snapshot_words = 1200
    args.memory_words, args.memory_messages = 200, 10
    args.scale_words, args.scale_wide_words, args.scale_repeat = [500, 1000], 0, 1


def _lanes(text: str) -> list[str]:
    lanes = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(lanes) - set(LANES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown lane {', '.join(unknown)}: choose from {', '.join(LANES)}")
    return lanes


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--stream-records", type=int, default=6000, help="P2: stream records per run")
    parser.add_argument("--grid-messages", type=_sizes, default=[50, 300], help="P3: message counts N")
    parser.add_argument("--grid-words", type=_sizes, default=[1000, 3000], help="P3: collection sizes M")
    parser.add_argument("--delta-words", type=int, default=1200, help="P3: words in the delta read")
    parser.add_argument(
        "--grid-receipts-per-image",
        type=_sizes,
        default=[1, 5],
        help="P3: receipts sharing one image (one DynamoDB partition)",
    )
    parser.add_argument(
        "--no-dynamodb-local", action="store_true", help="P3: skip the grid on DynamoDB Local"
    )
    parser.add_argument("--dimension", type=int, default=16, help="P3 and memory: embedding dimension")
    parser.add_argument("--snapshot-words", type=int, default=5000, help="P4/P5: collection size")
    parser.add_argument("--snapshot-dimension", type=int, default=64, help="P4/P5: embedding dimension")
    parser.add_argument("--memory-words", type=int, default=5000, help="memory: collection size")
    parser.add_argument("--memory-messages", type=int, default=300, help="memory: messages in the invocation")
    parser.add_argument(
        "--lanes",
        type=_lanes,
        default=list(LANES),
        help=f"P1: the backends to measure on, comma-separated (default: {','.join(LANES)})",
    )
    parser.add_argument(
        "--lane-repeat", type=int, default=1, help="P1: runs per scenario on the lanes other than moto"
    )
    parser.add_argument(
        "--scale-words",
        type=_sizes,
        default=[10_000, 50_000, 200_000],
        help="Scale: collection sizes at dimension 64",
    )
    parser.add_argument(
        "--scale-wide-words",
        type=int,
        default=10_000,
        help="Scale: the collection size of the one point at dimension 1536 (0: none)",
    )
    parser.add_argument("--scale-repeat", type=int, default=3, help="Scale: restores per point (median)")
    parser.add_argument(
        "--scale-cache",
        type=Path,
        default=None,
        help="Scale: keep the built collections here across runs (default: the run's scratch directory)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results", help="where latest.md/.json go"
    )
    return parser


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
