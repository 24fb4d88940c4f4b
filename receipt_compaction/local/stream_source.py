"""Reading a table's DynamoDB stream and shaping its records as a Lambda stream event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

__all__ = ["lambda_stream_event", "read_stream_records"]


def read_stream_records(streams: DynamoDBStreamsClient, stream_arn: str) -> list[dict[str, Any]]:
    """Every record currently in the stream, over every shard, oldest first (``GetRecords`` shape)."""
    records: list[dict[str, Any]] = []
    shards = _all_shards(streams, stream_arn)
    for shard_id in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        ).get("ShardIterator")
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(dict(record) for record in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return sorted(records, key=lambda record: int(record["dynamodb"]["SequenceNumber"]))


def _all_shards(streams: DynamoDBStreamsClient, stream_arn: str) -> list[str]:
    shard_ids: list[str] = []
    last: str | None = None
    while True:
        if last is None:
            description = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
        else:
            description = streams.describe_stream(StreamArn=stream_arn, ExclusiveStartShardId=last)[
                "StreamDescription"
            ]
        shard_ids += [shard["ShardId"] for shard in description.get("Shards", [])]
        last = description.get("LastEvaluatedShardId")
        if not last:
            return shard_ids


def lambda_stream_event(records: Sequence[Mapping[str, Any]], *, stream_arn: str) -> dict[str, Any]:
    """The event AWS Lambda receives for these records: ``eventSourceARN`` added, times as epoch seconds."""
    return {"Records": [_lambda_record(record, stream_arn) for record in records]}


def _lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "us-east-1"),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }
