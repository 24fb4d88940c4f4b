"""The local event sources on a real table stream and real queues, with handlers that fail on purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from receipt_compaction.aws import AwsClients
from receipt_compaction.harness import (
    QueueSource,
    StreamSource,
    StreamSourceSettings,
    create_queue,
    pipeline_resources,
)
from receipt_compaction.harness.resources import queue_arn
from tests.support.lanes import STREAM_READ_AT_ONCE
from tests.support.resources import Table


def names_of(event: dict[str, Any]) -> list[str]:
    return [record["dynamodb"]["Keys"]["PK"]["S"] for record in event["Records"]]


def write(clients: AwsClients, table: Table, *names: str) -> None:
    for name in names:
        clients.dynamodb.put_item(TableName=table.name, Item={"PK": {"S": name}, "SK": {"S": "x"}})


class Handler:
    """Records what it saw; raises on ``poison``; reports ``flaky`` failed the first time it sees it."""

    def __init__(self, *, poison: str | None = None, flaky: str | None = None) -> None:
        self.poison = poison
        self.flaky = flaky
        self.seen: list[list[str]] = []

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        names = names_of(event)
        self.seen.append(names)
        if self.poison in names:
            raise RuntimeError(f"cannot handle {self.poison}")
        if self.flaky in names:
            failed = event["Records"][names.index(self.flaky)]
            self.flaky = None
            return {"batchItemFailures": [{"itemIdentifier": failed["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}


def drain(source: StreamSource) -> None:
    source.read()
    while source.invoke_once() is not None:
        pass


@STREAM_READ_AT_ONCE
def test_a_reported_failure_is_retried_from_that_record(aws_clients: AwsClients, table: Table) -> None:
    write(aws_clients, table, "a", "b", "c", "d")
    handler = Handler(flaky="b")  # reports "b" failed, once
    source = StreamSource(
        aws_clients.dynamodbstreams,
        table.stream_arn,
        handler,
        on_failure=lambda r, why: None,
        region=aws_clients.region,
    )
    drain(source)
    assert handler.seen == [["a", "b", "c", "d"], ["b", "c", "d"]]
    assert not source.in_flight()
    assert source.records_read == 4


@STREAM_READ_AT_ONCE
def test_a_handler_error_bisects_until_the_poison_record_goes_to_the_on_failure_destination(
    aws_clients: AwsClients, table: Table
) -> None:
    write(aws_clients, table, "a", "b", "poison", "d")
    handler = Handler(poison="poison")
    failures: list[tuple[list[str], str]] = []
    source = StreamSource(
        aws_clients.dynamodbstreams,
        table.stream_arn,
        handler,
        on_failure=lambda records, why: failures.append(
            ([r["dynamodb"]["Keys"]["PK"]["S"] for r in records], why)
        ),
        region=aws_clients.region,
        settings=StreamSourceSettings(batch_size=4, max_retries=2, bisect_on_error=True),
    )
    drain(source)
    assert handler.seen[:3] == [["a", "b", "poison", "d"], ["a", "b"], ["poison", "d"]]
    assert failures == [(["poison"], "handler error: cannot handle poison")]
    assert ["d"] in handler.seen  # the record after the poison one still got through
    assert not source.in_flight()


def test_a_queue_source_deletes_successes_and_returns_failures(
    aws_clients: AwsClients, tmp_path: Path
) -> None:
    dlq = create_queue(aws_clients.sqs, f"dlq-{tmp_path.name[-20:]}")
    url = create_queue(
        aws_clients.sqs,
        f"q-{tmp_path.name[-20:]}",
        dead_letter_arn=queue_arn(aws_clients.sqs, dlq),
        max_receives=2,
    )
    for body in ("good", "bad"):
        aws_clients.sqs.send_message(QueueUrl=url, MessageBody=body)
    seen: list[str] = []

    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        seen.extend(record["body"] for record in event["Records"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
            ]
        }

    source = QueueSource(aws_clients.sqs, url, handler, name="test", region=aws_clients.region)
    while source.invoke_once() is not None:
        pass
    assert sorted(seen) == ["bad", "bad", "good"]  # "bad" came back at once, then the redrive policy took it
    assert not source.in_flight()
    assert aws_clients.sqs.receive_message(QueueUrl=dlq)["Messages"][0]["Body"] == "bad"


def test_the_janitor_removes_everything_it_created(aws_clients: AwsClients, tmp_path: Path) -> None:
    with pipeline_resources(aws_clients, root=tmp_path, region=aws_clients.region) as resources:
        aws_clients.s3.put_object(Bucket=resources.bucket, Key="k", Body=b"v")  # a non-empty bucket goes too
        assert resources.table_name in aws_clients.dynamodb.list_tables()["TableNames"]
    assert resources.table_name not in aws_clients.dynamodb.list_tables()["TableNames"]
    queues = aws_clients.sqs.list_queues(QueueNamePrefix=resources.prefix).get("QueueUrls", [])
    assert queues == []
    buckets = [bucket["Name"] for bucket in aws_clients.s3.list_buckets()["Buckets"]]
    assert resources.bucket not in buckets
