"""Backends that serve the AWS APIs the pipeline uses, behind one small interface (``Executor``: ``start``
returns a ``Backend``, ``stop`` ends what it started). Nothing here imports pytest. A backend that cannot
start raises ``BackendUnavailable`` with one line saying what was tried and how to fix it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from receipt_compaction.harness.backends.aws import AwsExecutor
from receipt_compaction.harness.backends.base import (
    Backend,
    BackendUnavailable,
    ContextManagedExecutor,
    Executor,
)
from receipt_compaction.harness.backends.dynamodb_local import DynamoDBLocalExecutor
from receipt_compaction.harness.backends.external import ExternalEndpointExecutor
from receipt_compaction.harness.backends.localstack import LocalStackContainerExecutor, LocalStackExecutor
from receipt_compaction.harness.backends.moto import MotoServerExecutor

if TYPE_CHECKING:
    from receipt_compaction.harness.settings import HarnessSettings

__all__ = [
    "AwsExecutor",
    "Backend",
    "BackendUnavailable",
    "ContextManagedExecutor",
    "DynamoDBLocalExecutor",
    "Executor",
    "ExternalEndpointExecutor",
    "LocalStackContainerExecutor",
    "LocalStackExecutor",
    "MotoServerExecutor",
    "executor_for",
    "make_executor",
]


def make_executor(*, backend: str, endpoint: str | None, region: str, start_timeout: float) -> Executor:
    """The executor of ``backend``; an explicit ``endpoint`` is used as it is (nothing is started)."""
    if endpoint:
        return ExternalEndpointExecutor(
            endpoint_url=endpoint, region=region, timeout=start_timeout, name=backend
        )
    if backend == "moto":
        return MotoServerExecutor(region=region, start_timeout=start_timeout)
    if backend == "dynamodb-local":
        return DynamoDBLocalExecutor(region=region, start_timeout=start_timeout)
    if backend == "localstack":
        return LocalStackExecutor(region=region, start_timeout=max(start_timeout, 60.0))
    if backend == "aws":
        return AwsExecutor(region=region)
    raise BackendUnavailable(f"unknown backend {backend!r}: use moto, dynamodb-local, localstack or aws")


def executor_for(settings: HarnessSettings) -> Executor:
    """The executor the harness settings ask for, with a separate DynamoDB endpoint when one is given."""
    if settings.endpoint is None and settings.backend == "localstack":
        executor: Executor = LocalStackExecutor(
            region=settings.region,
            stream_provider=settings.localstack_streams,
            start_timeout=max(settings.start_timeout, 60.0),
        )
    elif settings.endpoint is None and settings.backend == "dynamodb-local":
        jar = Path(settings.dynamodb_local_jar) if settings.dynamodb_local_jar else None
        executor = DynamoDBLocalExecutor(
            region=settings.region, jar=jar, start_timeout=settings.start_timeout
        )
    else:
        executor = make_executor(
            backend=settings.backend,
            endpoint=settings.endpoint,
            region=settings.region,
            start_timeout=settings.start_timeout,
        )
    if settings.dynamodb_endpoint:
        return _WithDynamoDBEndpoint(executor, settings.dynamodb_endpoint)
    return executor


class _WithDynamoDBEndpoint(ContextManagedExecutor):
    """Another executor's backend, with DynamoDB and its streams served at ``endpoint``."""

    def __init__(self, inner: Executor, endpoint: str) -> None:
        self.inner = inner
        self.endpoint = endpoint.rstrip("/")

    def start(self) -> Backend:
        backend = self.inner.start()
        endpoints = {**backend.service_endpoints, "dynamodb": self.endpoint, "dynamodbstreams": self.endpoint}
        return replace(backend, service_endpoints=endpoints)

    def stop(self) -> None:
        self.inner.stop()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
