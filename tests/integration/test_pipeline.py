"""End to end through the ``pipeline`` fixture: the real handlers, driven like AWS's event sources."""

from __future__ import annotations

import os

from pytest_receipt_compaction.plugin import CompactionEnv
from receipt_compaction.aws import HANDLER_EVENTS
from receipt_compaction.compaction.runs import load_run
from receipt_compaction.entities import CompactionRun, Receipt, ReceiptMetadata, ReceiptWordLabel
from receipt_compaction.harness.deployment import deployed_settings
from receipt_compaction.harness.faults import SqsEntryFaults
from receipt_compaction.harness.pipeline import LocalPipeline

IMAGE = "c0ffee00-1234-4abc-8def-0123456789ab"


def label(word_id: int, name: str, status: str = "VALID") -> ReceiptWordLabel:
    return ReceiptWordLabel(
        image_id=IMAGE, receipt_id=1, line_id=2, word_id=word_id, label=name, validation_status=status
    )


def test_seed_label_drain_and_the_latest_words_snapshot_carries_the_labels(pipeline: LocalPipeline) -> None:
    seeded = pipeline.seed_receipt(
        image_id=IMAGE, receipt_id=1, lines=[["CORNER", "SHOP"], ["TOTAL", "9.99"]]
    )
    assert seeded.word_ids[3] == f"IMAGE#{IMAGE}#RECEIPT#00001#LINE#00002#WORD#00002"
    assert len(seeded.line_ids) == 2
    assert [len(seeded.report.published_versions[c]) for c in ("lines", "words")] == [1, 1]
    pipeline.put(label(2, "GRAND_TOTAL"))
    pipeline.put(label(1, "SUBTOTAL", "INVALID"))
    seen: list[object] = []
    pipeline.on_invocation = seen.append  # what a progress bar hangs on
    report = pipeline.drain()
    assert tuple(seen) == report.invocations
    assert report.records >= 2
    assert report.messages == 2
    assert report.batch_item_failures == ()
    assert len(report.published_versions["words"]) == 1
    assert report.published_versions["lines"] == ()
    words = pipeline.latest_snapshot("words")
    assert words.version_id == report.published_versions["words"][0]
    assert words.count() == 4
    found = words.get(ids=[seeded.word_ids[3]])
    assert found["metadatas"][0]["valid_labels"] == ["GRAND_TOTAL"]
    invalid = words.get(where={"label_status": "invalidated"})
    assert invalid["ids"] == [seeded.word_ids[2]]


def test_a_merchant_rename_reaches_both_collections(pipeline: LocalPipeline) -> None:
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["A", "B"]], merchant_name="Old")
    pipeline.put(ReceiptMetadata(image_id=IMAGE, receipt_id=1, merchant_name="New", place_id="p-1"))
    report = pipeline.drain()
    assert all(len(report.published_versions[c]) == 1 for c in ("lines", "words"))
    for collection in ("lines", "words"):
        metadatas = pipeline.latest_snapshot(collection).get()["metadatas"]
        assert {(m["merchant_name"], m["place_id"]) for m in metadatas} == {("New", "p-1")}


def test_a_receipt_delete_empties_its_embeddings(pipeline: LocalPipeline) -> None:
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["GONE"]])
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=2, lines=[["STAYS"]])
    pipeline.delete(Receipt(image_id=IMAGE, receipt_id=1))
    pipeline.drain()
    for collection in ("lines", "words"):
        snapshot = pipeline.latest_snapshot(collection)
        assert [m["receipt_id"] for m in snapshot.get()["metadatas"]] == [2]


def test_a_compaction_run_is_merged_and_completed_in_both_collections(
    pipeline: LocalPipeline, compaction_env: CompactionEnv
) -> None:
    seeded = pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["X"]])
    runs = [
        item
        for item in pipeline.clients.dynamodb.scan(TableName=compaction_env.resources.table_name)["Items"]
        if item["SK"]["S"].startswith("RECEIPT#00001#COMPACTION_RUN#")
    ]
    assert len(runs) == 1
    run = load_run(
        pipeline.clients.dynamodb, compaction_env.resources.table_name, CompactionRun.from_item(runs[0])
    )
    assert run is not None
    assert (run.lines_state, run.words_state) == ("COMPLETED", "COMPLETED")
    assert (run.lines_merged_vectors, run.words_merged_vectors) == (1, 1)
    assert pipeline.latest_snapshot("words").get()["ids"] == list(seeded.word_ids)


def test_a_poison_message_lands_in_the_dlq_and_the_report_says_so(
    pipeline: LocalPipeline, compaction_env: CompactionEnv
) -> None:
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["X"]])
    pipeline.clients.sqs.send_message(
        QueueUrl=compaction_env.resources.queue_urls["words"],
        MessageBody='{"not": "a stream message"}',
        MessageAttributes={"collection": {"DataType": "String", "StringValue": "words"}},
    )
    report = pipeline.drain()
    assert report.dlq_arrivals == {"lines": 0, "words": 1}
    # maxReceiveCount receives (the deployed queues', deploy/template.yaml), each reported failed
    assert len(report.batch_item_failures) == deployed_settings().max_receives == 5
    dlq = pipeline.clients.sqs.receive_message(QueueUrl=compaction_env.resources.dlq_urls["words"])[
        "Messages"
    ]
    assert dlq[0]["Body"] == '{"not": "a stream message"}'


def test_a_failed_stream_publish_is_retried_from_its_record_and_nothing_is_lost_or_doubled(
    pipeline: LocalPipeline, compaction_env: CompactionEnv
) -> None:
    seeded = pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["A", "B", "C"]])
    for word_id, name in ((1, "ONE"), (2, "TWO"), (3, "THREE")):
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
    # On every handler client (HANDLER_EVENTS): the second record's message fails on the first invocation's
    # every attempt (1 send + 3 retries), then SQS accepts it.
    with SqsEntryFaults(HANDLER_EVENTS, calls={1: {1}, 2: {0}, 3: {0}, 4: {0}}):
        report = pipeline.drain()
    stream_calls = [i for i in report.invocations if i.source == "stream"]
    assert [len(i.failures) for i in stream_calls][:2] == [1, 0]  # failed once, then retried from that record
    assert report.on_failure_arrivals == 0
    words = pipeline.latest_snapshot("words")
    assert [m.get("valid_labels") for m in words.get(ids=list(seeded.word_ids))["metadatas"]] == [
        ["ONE"],
        ["TWO"],
        ["THREE"],
    ]
    assert words.count() == 3


def test_the_handlers_environment_is_set_for_the_test(compaction_env: CompactionEnv) -> None:
    assert os.environ["DYNAMODB_TABLE_NAME"] == compaction_env.resources.table_name
    assert os.environ["WORDS_QUEUE_URL"] == compaction_env.resources.queue_urls["words"]
    assert os.environ["AWS_ENDPOINT_URL"] == compaction_env.backend.endpoint_url
