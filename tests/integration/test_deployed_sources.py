"""The local event sources do what the deployed mappings (deploy/template.yaml) do: the SQS batch size, larger
than one ReceiveMessage call, and the stream's maximum record age."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from receipt_compaction.aws import AwsClients
from receipt_compaction.harness import QueueSource, StreamSource, StreamSourceSettings, create_queue
from receipt_compaction.harness.deployment import deployed_settings
from tests.support.lanes import STREAM_READ_AT_ONCE
from tests.support.resources import Table


def test_a_queue_source_batches_as_the_deployed_mapping_and_gathers_more_than_ten(
    aws_clients: AwsClients, tmp_path: Path
) -> None:
    url = create_queue(aws_clients.sqs, f"batch-{tmp_path.name[-20:]}")
    for start in range(0, 25, 10):
        aws_clients.sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": f"m{n}"} for n in range(start, min(start + 10, 25))],
        )
    batches: list[int] = []

    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        """Fails every record of its first batch (they come back at once), then none."""
        batches.append(len(event["Records"]))
        records = event["Records"] if len(batches) == 1 else []
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}

    deployed = QueueSource(aws_clients.sqs, url, handler, name="deployed", region=aws_clients.region)
    assert deployed.batch_size == deployed_settings().sqs_batch_size
    larger = QueueSource(
        aws_clients.sqs, url, handler, name="larger", batch_size=20, region=aws_clients.region
    )
    while larger.invoke_once() is not None:
        pass
    # ReceiveMessage returns at most 10 and the batch calls take at most 10 entries: each batch of 20 took
    # two receives, and its 20 failures two ChangeMessageVisibilityBatch calls (its successes two deletes).
    assert batches == [20, 20, 5]
    assert not larger.in_flight()


@STREAM_READ_AT_ONCE
def test_records_past_the_maximum_record_age_go_to_the_on_failure_destination_unhandled(
    aws_clients: AwsClients, table: Table
) -> None:
    for name in ("a", "b"):
        aws_clients.dynamodb.put_item(TableName=table.name, Item={"PK": {"S": name}, "SK": {"S": "x"}})
    time.sleep(1.1)  # every record is now at least a second old (creation times are rounded to the second)
    handled: list[dict[str, Any]] = []
    failures: list[tuple[list[str], str]] = []

    def source(settings: StreamSourceSettings) -> StreamSource:
        return StreamSource(
            aws_clients.dynamodbstreams,
            table.stream_arn,
            lambda event, context: handled.append(event) or {"batchItemFailures": []},
            on_failure=lambda records, why: failures.append(
                ([r["dynamodb"]["Keys"]["PK"]["S"] for r in records], why)
            ),
            region=aws_clients.region,
            settings=settings,
        )

    too_old = source(StreamSourceSettings(max_record_age=0))
    too_old.read()
    assert too_old.invoke_once() is None
    assert handled == []
    assert failures == [(["a", "b"], "older than MaximumRecordAgeInSeconds (0 s)")]
    assert not too_old.in_flight()

    deployed = source(StreamSourceSettings())  # the deployed age (an hour): the same records are handled
    assert deployed.settings.max_record_age == deployed_settings().stream_max_record_age
    deployed.read()
    while deployed.invoke_once() is not None:
        pass
    assert [len(event["Records"]) for event in handled] == [2]
