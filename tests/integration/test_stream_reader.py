"""The shard reader against a real table stream, meeting what real DynamoDB Streams do through faults injected
at the AWS boundary (botocore events on the reader's own ``dynamodbstreams`` client): empty pages, expired
iterators, a shard split, latency, and an identical put."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.harness import read_stream_records
from receipt_compaction.harness.backends import Backend
from receipt_compaction.harness.event_sources import ShardReader, StreamSource, StreamSourceSettings
from receipt_compaction.harness.faults import (
    EmptyPages,
    IdenticalPut,
    IteratorExpired,
    ShardSplit,
    StreamLatency,
    events_of,
)
from tests.support.lanes import STREAM_READ_AT_ONCE
from tests.support.resources import Table

pytestmark = STREAM_READ_AT_ONCE


def write(clients: AwsClients, table: Table, *names: str) -> None:
    for name in names:
        clients.dynamodb.put_item(TableName=table.name, Item={"PK": {"S": name}, "SK": {"S": "x"}})


def names_of(records: list[dict[str, Any]]) -> list[str]:
    return [record["dynamodb"]["Keys"]["PK"]["S"] for record in records]


class Recorder:
    """A stream handler that records every batch; reports ``flaky`` failed the first time it sees it."""

    def __init__(self, *, flaky: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.flaky = flaky

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        names = names_of(event["Records"])
        self.batches.append(names)
        if self.flaky in names:
            failed = event["Records"][names.index(self.flaky)]
            self.flaky = None
            return {"batchItemFailures": [{"itemIdentifier": failed["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}

    @property
    def delivered(self) -> list[str]:
        return [name for batch in self.batches for name in batch]


def source_for(clients: AwsClients, table: Table, handler: Recorder) -> StreamSource:
    return StreamSource(
        clients.dynamodbstreams,
        table.stream_arn,
        handler,
        on_failure=lambda records, why: None,
        region=clients.region,
    )


def drain(source: StreamSource, *, passes: int = 10) -> None:
    """What ``LocalPipeline.drain`` does with one source: passes until it is caught up and handled."""
    source.restart_quiet()
    for _ in range(passes):
        source.read()
        while source.invoke_once() is not None:
            pass
        if source.caught_up() and not source.in_flight():
            return
    raise AssertionError(f"the stream source was not caught up after {passes} passes: {source.lag()}")


def test_empty_pages_in_front_of_the_records_do_not_end_the_shard(
    aws_clients: AwsClients, table: Table
) -> None:
    write(aws_clients, table, "a", "b", "c", "d", "e")
    handler = Recorder()
    source = source_for(aws_clients, table, handler)
    with EmptyPages(aws_clients.dynamodbstreams, pages=5) as fault:
        drain(source)
    assert fault.injected == 5  # more than one pass's worth (3): the reader came back to the shard
    assert handler.delivered == ["a", "b", "c", "d", "e"]
    assert source.records_read == 5


def test_read_stream_records_reads_through_empty_pages_too(aws_clients: AwsClients, table: Table) -> None:
    write(aws_clients, table, "a", "b")
    with EmptyPages(aws_clients.dynamodbstreams, pages=4):
        records = read_stream_records(aws_clients.dynamodbstreams, table.stream_arn)
    assert names_of(records) == ["a", "b"]


def test_an_expired_iterator_is_replaced_after_the_last_record_read(
    aws_clients: AwsClients, table: Table, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Recorder()
    source = source_for(aws_clients, table, handler)
    write(aws_clients, table, "a", "b", "c")
    drain(source)
    last = source.reader.shards[0].last_sequence
    write(aws_clients, table, "d", "e")
    with caplog.at_level(logging.WARNING), IteratorExpired(aws_clients.dynamodbstreams) as fault:
        drain(source)
    assert fault.injected == 1
    assert handler.delivered == ["a", "b", "c", "d", "e"]  # nothing read twice, nothing lost
    [renewal] = source.reader.renewals
    assert (renewal.reason, renewal.after_sequence) == ("ExpiredIteratorException", last)
    assert f"ExpiredIteratorException; new iterator AFTER_SEQUENCE_NUMBER {last}" in caplog.text


def test_an_iterator_lost_before_any_record_is_replaced_from_trim_horizon(
    aws_clients: AwsClients, table: Table
) -> None:
    write(aws_clients, table, "a", "b")
    handler = Recorder()
    source = source_for(aws_clients, table, handler)
    with IteratorExpired(aws_clients.dynamodbstreams, code="TrimmedDataAccessException"):
        drain(source)
    assert handler.delivered == ["a", "b"]
    assert [(r.reason, r.after_sequence) for r in source.reader.renewals] == [
        ("TrimmedDataAccessException", None)
    ]


def test_an_iterator_that_keeps_failing_is_a_clear_error(aws_clients: AwsClients, table: Table) -> None:
    write(aws_clients, table, "a")
    source = source_for(aws_clients, table, Recorder())
    with IteratorExpired(aws_clients.dynamodbstreams, times=100), pytest.raises(RuntimeError) as error:
        source.read()
    assert "GetRecords failed again after 3 fresh iterators (ExpiredIteratorException)" in str(error.value)
    assert table.stream_arn in str(error.value)


def test_a_child_shard_starts_only_after_its_parent_is_closed_and_handled(
    aws_clients: AwsClients, table: Table
) -> None:
    write(aws_clients, table, "a", "b", "c", "d", "e")
    handler = Recorder(flaky="b")  # "b" fails once: the parent is not done until it is retried
    source = source_for(aws_clients, table, handler)
    with ShardSplit(aws_clients.dynamodbstreams, stream_arn=table.stream_arn, after=2) as split:
        drain(source)
        listed = aws_clients.dynamodbstreams.describe_stream(StreamArn=table.stream_arn)
    assert handler.batches == [["a", "b"], ["b"], ["c", "d", "e"]]
    assert split.parent in source.reader.retired
    assert [shard.shard_id for shard in source.reader.shards] == [split.child]
    shards = {s["ShardId"]: s for s in listed["StreamDescription"]["Shards"]}
    assert shards[split.parent]["SequenceNumberRange"]["EndingSequenceNumber"] == split.split_at
    assert shards[str(split.child)]["ParentShardId"] == split.parent
    # After the fault the reader goes on with the child's iterators, which are the real shard's.
    write(aws_clients, table, "f")
    drain(source)
    assert handler.delivered[-1:] == ["f"]
    assert handler.delivered.count("f") == 1


class PagedDescribe:
    """DescribeStream answered one shard per page (``LastEvaluatedShardId``), as AWS pages a stream with
    many shards; the emulators list one or two shards in one page. A test-only hook on the client's events."""

    def __init__(self, client: Any) -> None:
        self.events = events_of(client)
        self.pages = 0

    def __enter__(self) -> PagedDescribe:
        self.events.register("before-parameter-build.dynamodb-streams.DescribeStream", self.remember)
        self.events.register("after-call.dynamodb-streams.DescribeStream", self.page)
        return self

    def __exit__(self, *exc: object) -> None:
        self.events.unregister("before-parameter-build.dynamodb-streams.DescribeStream", self.remember)
        self.events.unregister("after-call.dynamodb-streams.DescribeStream", self.page)

    def remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["start"] = params.pop("ExclusiveStartShardId", None)  # the emulators ignore it anyway

    def page(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        description = parsed["StreamDescription"]
        ids = [shard["ShardId"] for shard in description["Shards"]]
        first = ids.index(context["start"]) + 1 if context["start"] else 0
        description["Shards"] = description["Shards"][first : first + 1]
        description.pop("LastEvaluatedShardId", None)
        if first + 1 < len(ids):
            description["LastEvaluatedShardId"] = ids[first]
        self.pages += 1


def test_describe_stream_is_paged_and_read_only_when_the_shard_set_may_change(
    aws_clients: AwsClients, table: Table
) -> None:
    write(aws_clients, table, "a", "b", "c")
    handler = Recorder()
    source = source_for(aws_clients, table, handler)
    streams = aws_clients.dynamodbstreams
    with ShardSplit(streams, stream_arn=table.stream_arn, after=1), PagedDescribe(streams) as paged:
        drain(source)
        for _ in range(5):
            source.read()  # passes over an open shard: no DescribeStream
    assert handler.delivered == ["a", "b", "c"]  # the child came from the second page
    assert source.reader.describe_calls == 1 + 2  # at the start (1 page), when the parent closed (2 pages)
    assert paged.pages == 3


def test_a_record_becomes_visible_after_a_number_of_polls(aws_clients: AwsClients, table: Table) -> None:
    write(aws_clients, table, "a", "b")
    handler = Recorder()
    source = source_for(aws_clients, table, handler)
    with StreamLatency(aws_clients.dynamodbstreams, polls=4) as latency:
        source.read()
        assert handler.delivered == []
        assert source.records_read == 0
        assert not source.caught_up()
        drain(source)
    assert latency.hidden > 0
    assert handler.delivered == ["a", "b"]


def test_records_found_later_wait_while_earlier_ones_go_through(
    aws_clients: AwsClients, table: Table
) -> None:
    handler = Recorder()
    source = source_for(aws_clients, table, handler)
    with StreamLatency(aws_clients.dynamodbstreams, polls=3) as latency:
        write(aws_clients, table, "a")
        source.read()  # finds "a" and holds it back for this pass's 3 polls
        write(aws_clients, table, "b")
        source.read()  # "a" is visible now, "b" is not: the page is cut before "b"
        while source.invoke_once() is not None:
            pass
        assert handler.batches == [["a"]]
        drain(source)
    assert handler.batches == [["a"], ["b"]]
    assert latency.hidden >= 4


def test_an_identical_put_writes_no_record_with_the_fault(
    aws_clients: AwsClients, table: Table, compaction_backend: Backend
) -> None:
    write(aws_clients, table, "a")
    write(aws_clients, table, "a")  # unchanged: moto writes a MODIFY, AWS and DynamoDB Local nothing
    with IdenticalPut(aws_clients.dynamodbstreams) as fault:
        records = read_stream_records(aws_clients.dynamodbstreams, table.stream_arn)
    assert [record["eventName"] for record in records] == ["INSERT"]
    assert fault.dropped == (1 if compaction_backend.name == "moto" else 0)


def test_the_reader_refuses_a_page_limit_the_service_refuses() -> None:
    with pytest.raises(ValueError, match=r"GetRecords takes a Limit from 1 to 1000"):
        StreamSourceSettings(page_limit=5000)


def test_the_lag_names_records_pending_per_shard(aws_clients: AwsClients, table: Table) -> None:
    write(aws_clients, table, "a", "b")
    reader = ShardReader(aws_clients.dynamodbstreams, table.stream_arn)
    reader.poll()
    shard = reader.shards[0].shard_id
    assert reader.lag() == [f"stream shard {shard}: 2 records read, not yet handled"]


class RepeatLastRecord:
    """LocalStack 4.0.3's Kinesis-backed streams answer every ``NextShardIterator`` of a shard whose only
    record carries the shard's starting sequence number with that same record again. No emulator here does
    it on demand, so this after-call hook on the reader's own client puts the last record back into every
    page that would otherwise be empty."""

    def __init__(self) -> None:
        self.last: dict[str, Any] | None = None
        self.repeated = 0

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        records = parsed.get("Records", [])
        if records:
            self.last = records[-1]
        elif self.last is not None:
            parsed["Records"] = [self.last]
            self.repeated += 1


def test_a_record_handed_out_again_is_delivered_once(aws_clients: AwsClients, table: Table) -> None:
    write(aws_clients, table, "only")
    handler = Recorder()
    source = source_for(aws_clients, table, handler)
    repeat = RepeatLastRecord()
    events = events_of(aws_clients.dynamodbstreams)
    events.register("after-call.dynamodb-streams.GetRecords", repeat)
    try:
        drain(source)
    finally:
        events.unregister("after-call.dynamodb-streams.GetRecords", repeat)
    assert repeat.repeated > 0
    assert handler.delivered == ["only"]
