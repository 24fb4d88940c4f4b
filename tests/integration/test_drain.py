"""``LocalPipeline.drain()`` with stream faults on the pipeline's own ``dynamodbstreams`` client: every record
is delivered once, exactly as without the fault; a quiet period waits for late records; a deadline names what
is still in flight."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest

from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness import read_stream_records
from receipt_compaction.harness.faults import EmptyPages, IteratorExpired, StreamLatency
from receipt_compaction.harness.pipeline import DrainDeadlineExceeded, LocalPipeline
from receipt_compaction.harness.settings import DRAIN_TIMING, HarnessSettings, OptionError, resolve_settings
from tests.support.lanes import STREAM_READ_AT_ONCE

IMAGE = "d2a1b3c4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
LABELS = (("ONE", 1), ("TWO", 2), ("THREE", 3))


def seed(pipeline: LocalPipeline) -> None:
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["A", "B", "C"]])


def label(pipeline: LocalPipeline) -> None:
    for name, word_id in LABELS:
        pipeline.put(
            ReceiptWordLabel(
                image_id=IMAGE,
                receipt_id=1,
                line_id=1,
                word_id=word_id,
                label=name,
                validation_status="VALID",
            )
        )


def stream_size(pipeline: LocalPipeline) -> int:
    return len(read_stream_records(pipeline.clients.dynamodbstreams, pipeline.resources.stream_arn))


def assert_labels_published(pipeline: LocalPipeline) -> None:
    words = pipeline.latest_snapshot("words").get()
    labels = sorted(label for m in words["metadatas"] for label in m.get("valid_labels", []))
    assert labels == sorted(name for name, _ in LABELS)


FAULTS = ("no fault", "empty pages", "iterator expired", "both")


def stream_faults(name: str, streams: Any) -> ExitStack:
    """The faults of one test case, on the pipeline's own ``dynamodbstreams`` client."""
    stack = ExitStack()
    if name in ("empty pages", "both"):
        stack.enter_context(EmptyPages(streams, pages=5 if name == "empty pages" else 2))
    if name in ("iterator expired", "both"):
        stack.enter_context(IteratorExpired(streams, times=1 if name == "iterator expired" else 2))
    return stack


@STREAM_READ_AT_ONCE
@pytest.mark.parametrize("fault", FAULTS)
def test_every_record_is_delivered_once_with_stream_faults_on_the_pipelines_client(
    pipeline: LocalPipeline, fault: str
) -> None:
    seed(pipeline)
    before = stream_size(pipeline)
    label(pipeline)
    with stream_faults(fault, pipeline.clients.dynamodbstreams):
        report = pipeline.drain()
    handled = sum(i.records for i in report.invocations if i.source == "stream")
    assert report.records == stream_size(pipeline) - before  # every record written since, read
    assert handled == report.records  # and handed to the handler once (no failures here)
    assert report.messages_by_collection == {"lines": 0, "words": 3}
    assert report.batch_item_failures == ()
    assert_labels_published(pipeline)


def test_a_quiet_period_waits_for_records_that_reach_the_stream_late(pipeline: LocalPipeline) -> None:
    seed(pipeline)
    label(pipeline)
    with StreamLatency(pipeline.clients.dynamodbstreams, milliseconds=300) as latency:
        report = pipeline.drain(quiet_period=1.0)
    assert latency.hidden > 0
    assert report.messages_by_collection == {"lines": 0, "words": 3}
    assert_labels_published(pipeline)


def test_the_deadline_names_what_is_still_in_flight(pipeline: LocalPipeline) -> None:
    words = pipeline.resources.queue_urls["words"]
    pipeline.clients.sqs.send_message(QueueUrl=words, MessageBody="{}")
    # Another consumer holds the message: it stays in flight until its visibility timeout ends.
    pipeline.clients.sqs.receive_message(QueueUrl=words, VisibilityTimeout=60)
    with pytest.raises(DrainDeadlineExceeded) as error:
        pipeline.drain(deadline=0.5)
    message = str(error.value)
    assert message.startswith("drain() still had work in flight at its deadline of 0.5 s (0 invocations")
    assert "  - queue words: 0 messages waiting, 1 received and not yet visible again" in message
    assert "queue lines" not in message
    assert "--receipt-compaction-drain-deadline=SECONDS" in message


def test_drain_timing_defaults_per_backend_and_options_override_them() -> None:
    def settings(**env: str) -> HarnessSettings:
        environ = {f"RECEIPT_COMPACTION_{name.upper()}": value for name, value in env.items()}
        return resolve_settings(lambda dest: None, lambda name: None, environ)

    assert settings(backend="moto").drain_timing() == DRAIN_TIMING["moto"]
    assert settings(backend="aws").drain_timing() == DRAIN_TIMING["aws"]
    assert settings(backend="localstack").drain_timing() == DRAIN_TIMING["localstack"]
    v2 = settings(backend="localstack", localstack_streams="v2")
    assert v2.drain_timing() == DRAIN_TIMING["localstack/v2"]  # DynamoDB Local's synchronous streams
    timing = settings(backend="localstack", quiet_period="0", drain_deadline="30").drain_timing()
    assert (timing.quiet_period, timing.deadline) == (0.0, 30.0)
    with pytest.raises(OptionError, match="drain-deadline is '0'; it must be a positive number of seconds"):
        settings(drain_deadline="0")
    with pytest.raises(OptionError, match="quiet-period is '-1'; it must be a number of seconds, 0 or more"):
        settings(quiet_period="-1")
