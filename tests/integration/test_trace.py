"""A drain's timeline as the harness records it: every stream record, message, invocation and version of
the drain is in it, in its text rendering and in its HTML page; a failed drain is recorded too."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from receipt_compaction.crashpoints import SimulatedCrash, crash_at
from receipt_compaction.entities import ReceiptMetadata, ReceiptWord, ReceiptWordLabel
from receipt_compaction.harness.event_sources import read_stream_records
from receipt_compaction.harness.pipeline import LocalPipeline
from receipt_compaction.harness.trace import DrainTrace, render_html, render_text
from receipt_compaction.harness.trace.text import MAX_LINES
from receipt_compaction.snapshot import SnapshotStore

IMAGE = "7ace0000-1234-4abc-8def-0123456789ab"


class Elements(HTMLParser):
    """The ``data-kind`` / ``data-ref`` of every event element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, str]] = []
        self.lanes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "data-kind" in found:
            self.events.append(found)
        elif "head" in found.get("class", "").split() and "data-lane" in found:
            self.lanes.append(found["data-lane"])


def change_a_seeded_receipt(pipeline: LocalPipeline) -> None:
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "4.20"], ["CASH"]])
    pipeline.put(
        ReceiptWordLabel(
            image_id=IMAGE, receipt_id=1, line_id=1, word_id=2, label="GRAND_TOTAL", validation_status="VALID"
        )
    )
    pipeline.put(ReceiptMetadata(image_id=IMAGE, receipt_id=1, merchant_name="Corner Shop"))
    pipeline.delete(ReceiptWord(image_id=IMAGE, receipt_id=1, line_id=2, word_id=1, text="CASH"))


def sequences(trace: DrainTrace, kind: str) -> list[str]:
    return [str(event.detail["sequence"]) for event in trace.events if event.kind == kind]


def test_the_trace_holds_every_record_message_invocation_and_version(pipeline: LocalPipeline) -> None:
    change_a_seeded_receipt(pipeline)
    report = pipeline.drain()
    assert len(pipeline.traces) == len(pipeline.reports) == 2
    trace = pipeline.traces[-1]

    # Records: exactly the ones this drain read from the stream (the newest report.records of them).
    stream = read_stream_records(pipeline.clients.dynamodbstreams, pipeline.resources.stream_arn)
    read = [record["dynamodb"]["SequenceNumber"] for record in stream][-report.records :]
    assert sorted(sequences(trace, "record")) == sorted(read)
    assert sorted(sequences(trace, "decision")) == sorted(read)  # a decision for each
    # Messages: one per message the stream stage sent, per collection, as the queues delivered them.
    sent = {
        c: sum(1 for e in trace.events if e.kind == "message" and e.lane == c) for c in ("lines", "words")
    }
    assert sent == report.messages_by_collection
    assert sent["words"] >= 3  # the label, the metadata, the deleted word
    # Invocations: the report's, in order, with their batch sizes and failures.
    invocations = [
        (event.detail.get("collection", "stream"), event.detail["batch"], tuple(event.detail["failures"]))
        for event in trace.events
        if event.kind == "invocation"
    ]
    assert invocations == [(i.source, i.records, i.failures) for i in report.invocations]
    # Versions: each one published, with its parent and count as the manifest says.
    versions = {event.detail["version_id"]: event.detail for event in trace.events if event.kind == "version"}
    assert set(versions) == {v for found in report.published_versions.values() for v in found}
    for version, detail in versions.items():
        manifest = SnapshotStore(
            pipeline.clients.s3, pipeline.resources.bucket, detail["collection"]
        ).read_manifest(version)
        assert (detail["parent_version"], detail["count"]) == (manifest.parent_version, manifest.count)
        assert detail["parent_version"] is not None  # the seed published the first ones
    assert any(e.kind == "lease" and e.detail["what"] == "acquired" for e in trace.events)
    assert trace.summary["messages_by_collection"] == report.messages_by_collection

    page = Elements()
    page.feed(render_html(test="t", outcome="passed", traces=pipeline.traces))
    assert page.lanes == ["stream", "stream-handler", "lines", "words", "compaction-handler", "s3"] * 2
    refs = {(element["data-kind"], element["data-ref"]) for element in page.events}
    assert {("record", sequence) for sequence in read} <= refs
    assert {("version", version) for version in versions} <= refs
    kinds = [element["data-kind"] for element in page.events]
    assert kinds.count("invocation") == sum(t.count("invocation") for t in pipeline.traces)
    assert kinds.count("message") == sum(t.count("message") for t in pipeline.traces)

    text = render_text(trace).splitlines()
    assert len(text) <= MAX_LINES + 1
    assert text[0].startswith("drain 2, ")
    assert f"versions lines +{len(report.published_versions['lines'])}" in text[0]


def test_a_drain_that_raises_is_recorded_with_what_it_raised(pipeline: LocalPipeline) -> None:
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["TOTAL"]])
    pipeline.put(ReceiptMetadata(image_id=IMAGE, receipt_id=1, merchant_name="Corner Shop"))
    with crash_at("before_pointer"), pytest.raises(SimulatedCrash):
        pipeline.drain()
    trace = pipeline.traces[-1]
    assert trace.error == "SimulatedCrash: before_pointer"
    assert [e.detail["point"] for e in trace.events if e.kind == "fault"] == ["before_pointer"]
    assert trace.count("version") == 0
    assert "raised SimulatedCrash: before_pointer" in render_text(trace).splitlines()[0]
