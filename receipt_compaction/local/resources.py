"""Creating the pipeline's AWS resources: the table with its stream, and the collection queues."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["create_queue", "create_table"]


def create_table(dynamodb: DynamoDBClient, name: str) -> str:
    """A PK/SK table with a NEW_AND_OLD_IMAGES stream; returns the stream ARN once the table is active."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def create_queue(sqs: SQSClient, name: str, *, fifo: bool = False) -> str:
    """A queue (``.fifo`` appended for a FIFO queue); returns its URL."""
    if fifo:
        return sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    return sqs.create_queue(QueueName=name)["QueueUrl"]
