"""What a drain reports without asking AWS again: versions and pointer moves from the handlers' own writes
(they match what the bucket gained), queue ARNs known from creation, seeding in batches; and the calls it
does not make (no bucket listing, no receive from a queue nothing was sent to)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from receipt_compaction.aws import AwsClients
from receipt_compaction.entities import ReceiptWord, ReceiptWordLabel
from receipt_compaction.harness.faults import events_of
from receipt_compaction.harness.janitor import CompactionEnv
from receipt_compaction.harness.pipeline import LocalPipeline
from receipt_compaction.harness.resources import queue_arn
from receipt_compaction.snapshot import SnapshotStore

IMAGE = "7c2e4b1a-9d3f-4e5a-8b6c-1d2e3f4a5b6c"


@contextmanager
def harness_calls(pipeline: LocalPipeline) -> Iterator[Counter[str]]:
    """The operations the pipeline's own clients call meanwhile."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    clients = pipeline.clients
    emitters = [events_of(c) for c in (clients.dynamodb, clients.dynamodbstreams, clients.sqs, clients.s3)]
    for events in emitters:
        events.register("before-call", count)
    try:
        yield calls
    finally:
        for events in emitters:
            events.unregister("before-call", count)


def versions(pipeline: LocalPipeline, collection: str) -> set[str]:
    return set(SnapshotStore(pipeline.clients.s3, pipeline.resources.bucket, collection).versions())


def test_the_reported_versions_are_what_the_bucket_gained_and_no_listing_was_needed(
    pipeline: LocalPipeline,
) -> None:
    seeded = pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["CASH", "20.00"]])
    before = {c: versions(pipeline, c) for c in ("lines", "words")}
    label = ReceiptWordLabel(
        image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label="PAYMENT_METHOD", validation_status="VALID"
    )
    pipeline.put(label)
    with harness_calls(pipeline) as calls:
        report = pipeline.drain()
    gained = {c: tuple(sorted(versions(pipeline, c) - before[c])) for c in ("lines", "words")}
    assert report.published_versions == gained
    assert len(gained["words"]) == 1
    assert gained["lines"] == ()
    assert seeded.report.published_versions == {c: tuple(sorted(before[c])) for c in ("lines", "words")}
    assert pipeline.last_writes.pointer_moved("words")
    assert not pipeline.last_writes.pointer_moved("lines")
    assert calls["ListObjectsV2"] == 0
    assert calls["GetObject"] == 0
    assert calls["GetQueueAttributes"] == 2  # only the settling check: no DLQ had a message given back


def test_a_drain_with_nothing_to_do_receives_once_from_each_queue(pipeline: LocalPipeline) -> None:
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["A"]])
    with harness_calls(pipeline) as calls:
        report = pipeline.drain()
    assert report.invocations == ()
    assert calls["ReceiveMessage"] == 2
    assert calls["DescribeStream"] == 0  # the shards are known since the table was made


def test_queue_arns_from_creation_are_the_arns_sqs_reports(
    compaction_env: CompactionEnv, aws_clients: AwsClients
) -> None:
    resources = compaction_env.resources
    urls = [*resources.queue_urls.values(), *resources.dlq_urls.values()]
    assert {url: resources.queue_arns[url] for url in urls} == {
        url: queue_arn(aws_clients.sqs, url) for url in urls
    }


def test_put_many_writes_each_key_once_in_batches_and_the_last_write_wins(pipeline: LocalPipeline) -> None:
    words = [
        ReceiptWord(image_id=IMAGE, receipt_id=1, line_id=1, word_id=n, text=f"W{n}") for n in range(1, 31)
    ]
    renamed = ReceiptWord(image_id=IMAGE, receipt_id=1, line_id=1, word_id=3, text="LAST")
    with harness_calls(pipeline) as calls:
        pipeline.put_many([*words, renamed])
    assert calls["BatchWriteItem"] == 2
    assert calls["PutItem"] == 0
    items = pipeline.clients.dynamodb.scan(TableName=pipeline.resources.table_name)["Items"]
    texts = sorted(ReceiptWord.from_item(item).text for item in items)
    assert texts == sorted([f"W{n}" for n in range(1, 31) if n != 3] + ["LAST"])
