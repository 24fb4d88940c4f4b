"""Memory: the peak RSS of one compaction handler invocation (cold EFS cache: restore, reconcile, publish)
on a collection of M words, against chromadb's own peak for opening that collection and making the same
calls (goal <= 1.5x); and the moto server's RSS after a full gate, against a fresh one."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import TYPE_CHECKING

from benchmarks.children import run_child
from benchmarks.compaction_grid import change_entities, queue_message_for, seed_world, write_entities
from benchmarks.harness import run_gate
from benchmarks.moto_process import MotoProcess
from benchmarks.report import Row
from receipt_compaction.aws import AwsClients
from receipt_compaction.snapshot import SnapshotStore

if TYPE_CHECKING:
    from pathlib import Path

    from receipt_compaction.entities import Entity
    from receipt_compaction.harness.backends import Backend

__all__ = ["measure_compaction_memory", "measure_gate_on_moto_process"]

GOAL = 1.5


def measure_compaction_memory(
    backend: Backend, scratch: Path, *, words: int, messages: int, dimension: int
) -> list[Row]:
    clients = AwsClients.connect(**backend.client_kwargs())
    world = seed_world(clients, scratch / "memory", words, dimension)
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    clients.s3.create_bucket(Bucket=bucket)
    SnapshotStore(clients.s3, bucket, "words").publish(
        world.base, expected=None, fencing_token=0, count=words
    )
    changes = change_entities(world.image_ids, messages)
    write_entities(clients, world.table, changes)
    event = scratch / "event.json"
    event.write_text(json.dumps({"Records": [_sqs_record(entity, n) for n, entity in enumerate(changes)]}))
    calls = scratch / "calls.pickle"
    environ = {
        **os.environ,
        **backend.environ(),
        "DYNAMODB_TABLE_NAME": world.table,
        "CHROMADB_BUCKET": bucket,
        "EFS_ROOT": str(scratch / "efs"),
        "AWS_REGION": backend.region,
    }
    ours = _peak_kib(["compaction", str(event), str(calls)], environ)
    replica = scratch / "replica"
    shutil.copytree(world.base, replica)
    bare = _peak_kib(["chroma", str(replica), str(calls)], dict(os.environ))
    return [
        Row(
            "Memory",
            f"peak RSS, one compaction invocation: {messages} messages into {words:,} words",
            ours / 1024,
            "MiB",
            bare / 1024,
            "chromadb alone: open + the same calls",
            goal=GOAL,
        )
    ]


def measure_gate_on_moto_process() -> list[Row]:
    """The gate against a moto server in its own process, whose memory is read before and after."""
    moto = MotoProcess()
    with moto as backend:
        fresh = moto.rss_mib()
        elapsed, summary = run_gate(f"--receipt-compaction-endpoint={backend.endpoint_url}")
        after, peak = moto.rss_mib(), moto.peak_rss_mib()
    return [
        Row(
            "P1",
            "whole gate against a moto server process",
            elapsed,
            "s",
            note=summary,
        ),
        Row(
            "Memory",
            "moto server after a full gate, peak RSS",
            peak,
            "MiB",
            fresh,
            "fresh moto server",
            note=f"{after:.0f} MiB at the end",
        ),
    ]


def _sqs_record(entity: Entity, n: int) -> dict[str, object]:
    message = queue_message_for(entity, n)
    return {
        "messageId": f"m{n}",
        "receiptHandle": f"r{n}",
        "body": message.message.body(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {
            name: {"stringValue": value["StringValue"], "dataType": "String"}
            for name, value in message.attributes().items()
        },
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:words",
    }


def _peak_kib(arguments: list[str], environ: dict[str, str]) -> float:
    return float(run_child("memory_child", arguments, environ=environ, timeout=900))
