"""boto3 clients: the handlers' (one per service, region and environment, reused across invocations) and
explicitly configured ones (``AwsClients.connect``).

boto3 reads ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` itself, so the same handler code talks to
AWS, LocalStack, DynamoDB Local or a moto server. The handlers' clients are cached on exactly the variables
boto3 reads for them, so pointing the environment at another server gives new clients.

Every handler client forwards its request events to ``HANDLER_EVENTS``: whoever needs to see or change what
the handlers send (the harness's faults) registers there, on purpose, instead of on a client object that a
cache happens to share.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config
from botocore.hooks import HierarchicalEmitter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "CLIENT_CONFIG",
    "ENDPOINT_VARIABLES",
    "HANDLER_EVENTS",
    "SERVICES",
    "AwsClients",
    "Service",
    "client_environment",
    "endpoint_variable",
    "handler_clients",
    "sqs_client",
]

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)

Service = Literal["dynamodb", "dynamodbstreams", "sqs", "s3"]
SERVICES: tuple[Service, ...] = ("dynamodb", "dynamodbstreams", "sqs", "s3")

_SERVICE_IDS: dict[Service, str] = {
    "dynamodb": "DYNAMODB",
    "dynamodbstreams": "DYNAMODB_STREAMS",
    "sqs": "SQS",
    "s3": "S3",
}


def endpoint_variable(service: Service) -> str:
    """The service-specific endpoint variable boto3 reads (``AWS_ENDPOINT_URL_`` + the service id)."""
    return f"AWS_ENDPOINT_URL_{_SERVICE_IDS[service]}"


ENDPOINT_VARIABLES: tuple[str, ...] = (
    "AWS_ENDPOINT_URL",
    *(endpoint_variable(service) for service in SERVICES),
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
"""Every environment variable boto3 reads to choose the endpoints of the pipeline's services."""

_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")

HANDLER_EVENTS = HierarchicalEmitter()
"""The request events of every handler client (``before-parameter-build.sqs.SendMessageBatch``,
``before-call.s3.PutObject``, ...), forwarded here. Register to observe or change the handlers' calls."""

_FORWARDED_EVENTS = ("before-parameter-build", "before-call", "after-call", "after-call-error")


def client_environment(service: Service) -> tuple[str | None, ...]:
    """The values of the variables boto3 reads for ``service``'s endpoint and credentials."""
    names = ("AWS_ENDPOINT_URL", endpoint_variable(service), "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    return tuple(os.environ.get(name) for name in (*names, *_CREDENTIAL_VARIABLES))


def sqs_client(region: str) -> SQSClient:
    """The stream handler's SQS client (only this one: the stream Lambda needs no other)."""
    client: SQSClient = _handler_client("sqs", region, client_environment("sqs"))
    return client


def handler_clients(region: str) -> AwsClients:
    """All four clients for a handler, reused across invocations of the same environment."""
    clients = {service: _handler_client(service, region, client_environment(service)) for service in SERVICES}
    return AwsClients(**clients)


@functools.cache
def _handler_client(service: Service, region: str, environment: tuple[str | None, ...]) -> Any:
    # ``environment`` is only the cache key: boto3 reads those variables itself when it builds the client.
    del environment
    client = boto3.session.Session().client(service, region_name=region, config=CLIENT_CONFIG)
    for event in _FORWARDED_EVENTS:
        client.meta.events.register(event, _forward_to_handler_events)
    return client


def _forward_to_handler_events(event_name: str, **kwargs: Any) -> Any:
    _, response = HANDLER_EVENTS.emit_until_response(event_name, **kwargs)
    return response


@dataclass(frozen=True)
class AwsClients:
    """The clients the pipeline uses, all bound to one region (and, when connected, one endpoint)."""

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
        """Clients built with the same keyword arguments (``endpoint_url``, ``region_name``, credentials).

        ``endpoint_urls`` (a mapping service -> URL) overrides ``endpoint_url`` per service."""
        per_service: dict[str, str] = client_kwargs.pop("endpoint_urls", None) or {}
        session = boto3.session.Session()
        kwargs = {"config": CLIENT_CONFIG, **client_kwargs}

        def client(service: Service) -> Any:
            endpoint = per_service.get(service)
            return session.client(service, **(kwargs | ({"endpoint_url": endpoint} if endpoint else {})))

        return cls(
            dynamodb=client("dynamodb"),
            dynamodbstreams=client("dynamodbstreams"),
            sqs=client("sqs"),
            s3=client("s3"),
        )
