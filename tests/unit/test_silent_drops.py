"""Issue 13, finding 7: nothing meant for the pipeline is dropped in silence.

Before: a CompactionRun whose run id is not a valid run id (a timestamp) was skipped at DEBUG level and its
deltas never merged; a ``*_delta_prefix`` written as ``s3://bucket/prefix`` was used as a key prefix, never
found, and both messages ended in the DLQs.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.entities import CompactionRun, unrecognised_key
from receipt_compaction.entities.runs import DeltaPrefixError
from receipt_compaction.stream import QueuePublisher, process_stream_records
from tests.support.records import stream_record
from tests.support.world import World

IMAGE = "7d6c5b4a-3928-4f17-8e6d-5c4b3a291807"
PK = f"IMAGE#{IMAGE}"
TIMESTAMP_SK = "RECEIPT#00001#COMPACTION_RUN#2026-01-01T00:00:00.123Z"


@pytest.mark.parametrize(
    ("sk", "expected"),
    [
        (TIMESTAMP_SK, "COMPACTION_RUN key (RECEIPT#nnnnn#COMPACTION_RUN#<run_id>) but run_id"),
        ("RECEIPT#00001#COMPACTION_RUN#a#b", "run_id 'a#b' does not match"),
        (
            "RECEIPT#100000#COMPACTION_RUN#run-1",
            "receipt_id '100000' is not a 5-digit id from 00001 to 99999",
        ),
        ("RECEIPT#00001#LINE#00002#WORD#00003#LABEL#total", "label 'total' does not match"),
        ("RECEIPT#00001#LINE#2", "line_id '2' is not a 5-digit id"),
    ],
)
def test_a_key_with_an_entitys_segments_but_bad_values_is_explained(sk: str, expected: str) -> None:
    reason = unrecognised_key(PK, sk)
    assert reason is not None
    assert expected in reason


@pytest.mark.parametrize(
    "sk",
    [
        "RECEIPT#00001#COMPACTION_RUN#run-1",  # a good key
        "RECEIPT#00001#SECTION#HEADER",  # another kind of item
        "RECEIPT#00001#LINE#00002#WORD#00003#LETTER#00001",
        "IMAGE",
        "",
    ],
)
def test_other_keys_are_not_near_misses(sk: str) -> None:
    assert unrecognised_key(PK, sk) is None


def timestamp_run_record() -> dict[str, Any]:
    """A CompactionRun INSERT whose run id is a timestamp (written by a producer that does not use UUIDs)."""
    record = stream_record("INSERT", new=CompactionRun(image_id=IMAGE, receipt_id=1, run_id="placeholder"))
    record["dynamodb"]["Keys"]["SK"] = {"S": TIMESTAMP_SK}
    record["dynamodb"]["NewImage"]["SK"] = {"S": TIMESTAMP_SK}
    return record


def test_a_compaction_run_with_an_unrecognised_key_is_a_warning_with_its_key_and_is_counted(
    aws_clients: AwsClients, queue_urls: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    publisher = QueuePublisher(aws_clients.sqs, queue_urls)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="receipt_compaction.stream"):
        result = process_stream_records([timestamp_run_record()], publisher=publisher)
    (outcome,) = result.outcomes
    assert (outcome.status, outcome.unrecognised) == ("skipped", True)
    assert result.summary()["unrecognised"] == 1
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert TIMESTAMP_SK in warning.getMessage()
    assert "run_id" in warning.getMessage()


def run_with_prefixes(prefix: str) -> CompactionRun:
    return CompactionRun(image_id=IMAGE, receipt_id=1, run_id="run-9", words_delta_prefix=prefix)


def test_an_s3_url_prefix_naming_the_configured_bucket_is_its_key_prefix() -> None:
    run = run_with_prefixes("s3://chroma-bucket/words/delta/run-9/")
    assert run.delta_key_prefix("words", bucket="chroma-bucket") == "words/delta/run-9/"
    assert run.delta_key_prefix("lines", bucket="chroma-bucket") == "lines/delta/run-9/"


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        (
            "s3://other-bucket/words/delta/run-9/",
            "names bucket 'other-bucket', but deltas are read from bucket",
        ),
        ("s3://chroma-bucket/", "names the bucket but no key prefix"),
        ("s3://chroma-bucket", "names the bucket but no key prefix"),
    ],
)
def test_an_s3_url_prefix_naming_another_place_is_refused_with_a_reason(prefix: str, reason: str) -> None:
    with pytest.raises(DeltaPrefixError, match=reason):
        run_with_prefixes(prefix).delta_key_prefix("words", bucket="chroma-bucket")


def test_a_run_whose_prefix_is_an_s3_url_of_the_bucket_is_merged(world: World) -> None:
    state = world.seed(IMAGE, 1, [["HELLO"]])
    produced = world.produce(state, "run-url")
    as_url = produced.model_copy(
        update={
            f"{c}_delta_prefix": f"s3://{world.bucket}/{produced.prefix_for(c)}"  # type: ignore[arg-type]
            for c in ("lines", "words")
        }
    )
    world.put(as_url)
    messages = world.messages("INSERT", new=as_url)
    results = world.compact_all(messages)
    for collection, result in results.items():
        assert result.failed_message_ids == [], collection
        assert [merged.run.run_id for merged in result.merged_runs] == ["run-url"]


def test_a_run_whose_prefix_names_another_bucket_fails_with_that_reason(world: World) -> None:
    state = world.seed(IMAGE, 1, [["HELLO"]])
    produced = world.produce(state, "run-elsewhere")
    elsewhere = produced.model_copy(update={"words_delta_prefix": "s3://someone-elses/words/delta/x/"})
    world.put(elsewhere)
    result = world.compact(world.messages("INSERT", new=elsewhere), "words")
    (outcome,) = result.outcomes
    assert outcome.status == "failed"
    assert "names bucket 'someone-elses'" in outcome.reason
