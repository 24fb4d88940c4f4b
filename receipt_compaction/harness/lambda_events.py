"""The events AWS Lambda hands a function, shaped from what the AWS APIs return (and, for tests and
benchmarks of the stream stage, built from entities without a table or a stream).

``lambda_stream_event`` shapes ``GetRecords`` records as a DynamoDB stream event, ``lambda_sqs_event`` shapes
``ReceiveMessage`` results as an SQS event, ``stream_record`` builds one stream record for an entity change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from receipt_compaction.entities import Entity, EventName

__all__ = ["lambda_sqs_event", "lambda_stream_event", "stream_arn_for", "stream_record"]


def stream_arn_for(table: str, *, region: str, account: str = "123456789012") -> str:
    """A stream ARN of the shape DynamoDB gives, for events built without a table."""
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}/stream/2026-01-01T00:00:00.000"


def lambda_stream_event(
    records: Sequence[Mapping[str, Any]], *, stream_arn: str, region: str
) -> dict[str, Any]:
    """The event AWS Lambda receives for these records: ``eventSourceARN`` added, times as epoch seconds."""
    return {"Records": [_lambda_stream_record(record, stream_arn, region) for record in records]}


def _lambda_stream_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def lambda_sqs_event(messages: Sequence[Mapping[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    """``ReceiveMessage`` results (with attributes and message attributes) as a Lambda SQS event."""
    return {"Records": [_lambda_sqs_record(message, queue_arn, region) for message in messages]}


def _lambda_sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def stream_record(
    event_name: EventName,
    *,
    sequence_number: str,
    region: str,
    old: Entity | None = None,
    new: Entity | None = None,
) -> dict[str, Any]:
    """The Lambda stream record a NEW_AND_OLD_IMAGES stream carries when ``old`` becomes ``new``."""
    entity = new or old
    if entity is None:
        raise ValueError("a stream record needs an old or a new entity")
    change: dict[str, Any] = {
        "Keys": entity.key(),
        "SequenceNumber": sequence_number,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        change["OldImage"] = old.to_item()
    if new is not None:
        change["NewImage"] = new.to_item()
    return {
        "eventID": f"event-{sequence_number}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": stream_arn_for("receipts", region=region),
    }
