"""Per-test AWS resources on the plugin's backend (the plugin itself is loaded by its entry point)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from receipt_compaction.aws import AwsClients
from receipt_compaction.harness import create_bucket, create_queue, create_table
from receipt_compaction.harness.backends import Backend
from receipt_compaction.harness.resources import empty_and_delete_bucket
from tests.support.resources import Table, unique_name
from tests.support.world import World

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("default")


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
    create_bucket(aws_clients.s3, name, aws_clients.region)
    yield name
    empty_and_delete_bucket(aws_clients.s3, name)


@pytest.fixture
def world(
    aws_clients: AwsClients, table: Table, bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> World:
    # A fresh Chroma path per test: Chroma caches state per path inside one process.
    return World(aws_clients, table.name, bucket, tmp_path_factory.mktemp("chroma") / "working")
