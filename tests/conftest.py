"""Per-test AWS resources on the plugin's backend (the plugin itself is loaded by its entry point)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from world import World

from pytest_receipt_compaction.executors import Backend
from receipt_compaction.aws import AwsClients
from receipt_compaction.local import create_queue, create_table

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("default")


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Table:
    name: str
    stream_arn: str


@pytest.fixture
def table(aws_clients: AwsClients) -> Iterator[Table]:
    name = unique_name("receipts")
    stream_arn = create_table(aws_clients.dynamodb, name)
    yield Table(name, stream_arn)
    aws_clients.dynamodb.delete_table(TableName=name)


@pytest.fixture
def queue_urls(aws_clients: AwsClients) -> Iterator[dict[str, str]]:
    urls = {
        collection: create_queue(aws_clients.sqs, unique_name(collection))
        for collection in ("lines", "words")
    }
    yield urls
    for url in urls.values():
        aws_clients.sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def handler_env(
    monkeypatch: pytest.MonkeyPatch, compaction_backend: Backend, queue_urls: dict[str, str]
) -> dict[str, str]:
    """The environment the stream processor Lambda reads, pointed at the backend and the test's queues."""
    environ = {
        **compaction_backend.environ(),
        "LINES_QUEUE_URL": queue_urls["lines"],
        "WORDS_QUEUE_URL": queue_urls["words"],
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return environ


@pytest.fixture
def bucket(aws_clients: AwsClients) -> Iterator[str]:
    name = unique_name("chroma")
    aws_clients.s3.create_bucket(Bucket=name)
    yield name
    for page in aws_clients.s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            aws_clients.s3.delete_object(Bucket=name, Key=item["Key"])
    aws_clients.s3.delete_bucket(Bucket=name)


@pytest.fixture
def world(
    aws_clients: AwsClients, table: Table, bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> World:
    # A fresh Chroma path per test: Chroma caches state per path inside one process.
    return World(aws_clients, table.name, bucket, tmp_path_factory.mktemp("chroma") / "working")
