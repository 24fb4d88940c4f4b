"""``receipt-compaction run-local``: the two-minute tour. Start the embedded backend, seed a demo receipt,
label a word, drain through the real handlers, and show what happened."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from receipt_compaction.aws import AwsClients
from receipt_compaction.cli.output import CommandError, Output, progress, requires_extra
from receipt_compaction.entities import ReceiptWordLabel

if TYPE_CHECKING:
    import argparse

__all__ = ["add_local_command"]

DEMO_LINES = [["CORNER", "SHOP"], ["COFFEE", "3.50"], ["TOTAL", "3.50"]]
DEMO_REGION = "us-east-1"
"""The embedded moto server's region: the tour never talks to AWS, so any region does."""


def add_local_command(subparsers: Any) -> None:
    command = subparsers.add_parser(
        "run-local", help="start moto, seed a demo receipt, label it, drain, report"
    )
    command.add_argument(
        "--region",
        default=DEMO_REGION,
        help=f"the region of the embedded moto server (default: {DEMO_REGION}; "
        "run-local never talks to AWS, so neither $AWS_REGION nor the profile applies)",
    )
    command.set_defaults(run=run_local, needs_store=False)


def run_local(arguments: argparse.Namespace, store: None, output: Output) -> int:
    del store
    with requires_extra("run-local", "cli"):
        # moto's server is imported only when the backend starts: check for it before anything else.
        import moto.server  # noqa: F401, PLC0415

        from receipt_compaction.harness.backends import (  # noqa: PLC0415
            BackendUnavailable,
            MotoServerExecutor,
        )
        from receipt_compaction.harness.janitor import pipeline_resources  # noqa: PLC0415
        from receipt_compaction.harness.pipeline import LocalPipeline  # noqa: PLC0415 - imports chromadb
    try:
        with MotoServerExecutor(region=arguments.region) as backend, tempfile.TemporaryDirectory() as scratch:
            clients = AwsClients.connect(**backend.client_kwargs())
            with pipeline_resources(clients, root=Path(scratch), region=arguments.region) as resources:
                pipeline = LocalPipeline(clients, resources, {**backend.environ(), **resources.environ()})
                image_id = str(uuid.uuid4())
                with progress(output, total=None, description="seeding", unit="invocation") as bar:
                    pipeline.on_invocation = lambda invocation: bar.update(1)
                    seeded = pipeline.seed_receipt(
                        image_id=image_id, receipt_id=1, lines=DEMO_LINES, merchant_name="Corner Shop"
                    )
                label = ReceiptWordLabel(
                    image_id=image_id,
                    receipt_id=1,
                    line_id=3,
                    word_id=2,
                    label="GRAND_TOTAL",
                    validation_status="VALID",
                )
                pipeline.put(label)
                with progress(output, total=None, description="draining", unit="invocation") as bar:
                    pipeline.on_invocation = lambda invocation: bar.update(1)
                    report = pipeline.drain()
                words = pipeline.latest_snapshot("words")
                total = words.get(ids=[seeded.word_ids[-1]])["metadatas"][0]
                count = words.count()  # while the downloaded snapshot still exists
    except BackendUnavailable as error:
        raise CommandError(str(error)) from None
    summary = {
        "seed": _report(seeded.report),
        "label": _report(report),
        "words_version": words.version_id,
        "words_count": count,
        "grand_total_metadata": total,
    }
    text = "\n".join(
        [
            f"seeded receipt {image_id} (3 lines, 6 words): {_line(seeded.report)}",
            f"labelled TOTAL's amount GRAND_TOTAL: {_line(report)}",
            f"latest words version {words.version_id}: {summary['words_count']} embeddings",
            f"  {seeded.word_ids[-1]}: {total}",
        ]
    )
    output.result(summary, text=text)
    return 0


def _report(report: Any) -> dict[str, Any]:
    data = asdict(report)
    data["invocations"] = len(report.invocations)
    return data


def _line(report: Any) -> str:
    versions = ", ".join(f"{c} {len(v)}" for c, v in report.published_versions.items())
    return (
        f"{report.records} stream records, {report.messages} messages, "
        f"{len(report.invocations)} invocations, "
        f"{len(report.batch_item_failures)} failures; versions published: {versions}"
    )
