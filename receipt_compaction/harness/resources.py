"""Creating the pipeline's AWS resources: the table with its stream, and the collection queues."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "create_bucket",
    "create_queue",
    "create_table",
    "empty_and_delete_bucket",
    "queue_arn",
    "sibling_queue_arn",
    "wait_for_stream",
]


def create_table(dynamodb: DynamoDBClient, name: str, *, streams: DynamoDBStreamsClient | None = None) -> str:
    """A PK/SK table with a NEW_AND_OLD_IMAGES stream; returns the stream ARN once the table is ACTIVE and,
    given a streams client, its stream ENABLED (pass one whenever anything will read the stream)."""
    return create_stream_table(dynamodb, name, streams=streams)[0]


def create_stream_table(
    dynamodb: DynamoDBClient, name: str, *, streams: DynamoDBStreamsClient | None = None
) -> tuple[str, dict[str, Any] | None]:
    """``create_table``, and the stream's ``DescribeStream`` answer that found it ENABLED (None without a
    streams client): a reader can start from its shards instead of asking again. A table CreateTable already
    reports ACTIVE (moto, DynamoDB Local) is not described again."""
    created = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    stream_arn = created.get("LatestStreamArn")
    if created.get("TableStatus") != "ACTIVE" or not stream_arn:
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        stream_arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    description = wait_for_stream(streams, stream_arn) if streams is not None else None
    return stream_arn, description


def wait_for_stream(
    streams: DynamoDBStreamsClient, stream_arn: str, *, timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until the stream is ENABLED: records written while it is still ENABLING can be dropped
    (LocalStack's Kinesis-backed streams drop them), so nothing may be written before. Returns that
    ``DescribeStream`` answer's ``StreamDescription`` (its first page of shards)."""
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        description: dict[str, Any] = dict(streams.describe_stream(StreamArn=stream_arn)["StreamDescription"])
        status = description["StreamStatus"]
        if status == "ENABLED":
            return description
        time.sleep(0.05)
    raise TimeoutError(f"the stream {stream_arn} is still {status} after {timeout:.0f} s")


def create_queue(
    sqs: SQSClient,
    name: str,
    *,
    fifo: bool = False,
    dead_letter_arn: str | None = None,
    max_receives: int | None = None,
    visibility_timeout: int | None = None,
) -> str:
    """A queue (``.fifo`` appended for a FIFO queue), with a redrive policy when a DLQ is given (after
    ``max_receives`` receives, by default the deployed queues' maxReceiveCount) and the visibility timeout
    when one is given (SQS's default otherwise); its URL."""
    if max_receives is None:
        from receipt_compaction.harness.deployment import deployed_settings  # noqa: PLC0415 - needs PyYAML

        max_receives = deployed_settings().max_receives
    attributes: dict[str, str] = {}
    if fifo:
        name, attributes["FifoQueue"] = f"{name}.fifo", "true"
    if visibility_timeout is not None:
        attributes["VisibilityTimeout"] = str(visibility_timeout)
    if dead_letter_arn:
        policy = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(max_receives)}
        attributes["RedrivePolicy"] = json.dumps(policy)
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]


def queue_arn(sqs: SQSClient, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def sibling_queue_arn(known_arn: str, queue_url: str) -> str:
    """The ARN of the queue at ``queue_url`` from the ARN of another queue of the same account and region
    (``arn:aws:sqs:{region}:{account}:{name}``; a URL ends with the queue's name), without asking SQS."""
    return f"{known_arn.rsplit(':', 1)[0]}:{queue_url.rstrip('/').rsplit('/', 1)[-1]}"


def create_bucket(s3: S3Client, name: str, region: str) -> None:
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]


def empty_and_delete_bucket(s3: S3Client, name: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})  # type: ignore[typeddict-item]
    s3.delete_bucket(Bucket=name)
