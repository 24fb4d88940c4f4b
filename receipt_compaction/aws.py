"""boto3 clients for the handlers: one per service, region and endpoint, reused across invocations.

boto3 reads ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) itself, so the same handler code talks
to AWS, LocalStack or a moto server.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

__all__ = ["CLIENT_CONFIG", "AwsClients", "handler_clients", "sqs_client"]

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def sqs_client(region: str) -> SQSClient:
    return _sqs_client(region, _endpoint_settings("sqs"))


def _endpoint_settings(service: str) -> tuple[str | None, str | None]:
    return os.environ.get("AWS_ENDPOINT_URL"), os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")


@functools.cache
def _sqs_client(region: str, endpoints: tuple[str | None, str | None]) -> SQSClient:
    # The endpoint settings are only the cache key (boto3 reads them itself): a test may point the
    # environment at a new server, and must then get a new client.
    del endpoints
    return boto3.session.Session().client("sqs", region_name=region, config=CLIENT_CONFIG)


@dataclass(frozen=True)
class AwsClients:
    """The clients the pipeline uses, all bound to one endpoint and region."""

    dynamodb: DynamoDBClient
    dynamodbstreams: DynamoDBStreamsClient
    sqs: SQSClient
    s3: S3Client

    @property
    def region(self) -> str:
        """The region every client is bound to."""
        return self.dynamodb.meta.region_name

    @classmethod
    def connect(cls, **client_kwargs: Any) -> AwsClients:
        """Clients built with the same keyword arguments (``endpoint_url``, ``region_name``, credentials)."""
        session = boto3.session.Session()
        kwargs = {"config": CLIENT_CONFIG, **client_kwargs}
        return cls(
            dynamodb=session.client("dynamodb", **kwargs),
            dynamodbstreams=session.client("dynamodbstreams", **kwargs),
            sqs=session.client("sqs", **kwargs),
            s3=session.client("s3", **kwargs),
        )


def handler_clients(region: str) -> AwsClients:
    """All four clients for a handler, reused across invocations of the same environment."""
    return _handler_clients(region, _endpoint_settings("all"))


@functools.cache
def _handler_clients(region: str, endpoints: tuple[str | None, str | None]) -> AwsClients:
    del endpoints  # only the cache key, as above
    return AwsClients.connect(region_name=region)
