"""P1 (first cut): start-up of the embedded moto backend, and the wall time of one
seed -> label -> drain -> latest_snapshot round trip through the real handlers.

    python -m benchmarks.pipeline_roundtrip [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from pytest_receipt_compaction.executors import MotoServerExecutor
from receipt_compaction.aws import AwsClients
from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.local import pipeline_resources
from receipt_compaction.local.pipeline import LocalPipeline


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    executor = MotoServerExecutor(region="us-east-1")
    backend = executor.start()
    print(f"moto backend start-up: {time.perf_counter() - started:.3f} s")
    try:
        clients = AwsClients.connect(**backend.client_kwargs())
        times = [round_trip(clients, backend.environ()) for _ in range(args.repeat)]
    finally:
        executor.stop()
    median = statistics.median(times)
    print(f"seed -> label -> drain -> latest_snapshot: median {median:.2f} s over {len(times)} runs")
    print(f"  (each: {', '.join(f'{t:.2f}' for t in times)})")


def round_trip(clients: AwsClients, environ: dict[str, str]) -> float:
    with (
        tempfile.TemporaryDirectory() as scratch,
        pipeline_resources(clients, root=Path(scratch), region="us-east-1") as resources,
    ):
        pipeline = LocalPipeline(clients, resources, {**environ, **resources.environ()})
        image_id = str(uuid.uuid4())
        started = time.perf_counter()
        seeded = pipeline.seed_receipt(image_id=image_id, receipt_id=1, lines=[["TOTAL", "4.20"], ["CASH"]])
        pipeline.put(
            ReceiptWordLabel(
                image_id=image_id,
                receipt_id=1,
                line_id=1,
                word_id=2,
                label="GRAND_TOTAL",
                validation_status="VALID",
            )
        )
        pipeline.drain()
        metadata = pipeline.latest_snapshot("words").get(ids=[seeded.word_ids[1]])["metadatas"][0]
        elapsed = time.perf_counter() - started
        assert metadata["valid_labels"] == ["GRAND_TOTAL"], metadata
        return elapsed


if __name__ == "__main__":
    main()
