"""Shaping messages received from SQS as the event AWS Lambda gets from an SQS event source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["lambda_sqs_event"]


def lambda_sqs_event(
    messages: Sequence[Mapping[str, Any]], *, queue_arn: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """``ReceiveMessage`` results (with attributes and message attributes) as a Lambda SQS event."""
    return {"Records": [_record(message, queue_arn, region) for message in messages]}


def _record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
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
