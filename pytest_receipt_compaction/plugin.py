"""pytest plugin ``receipt_compaction``: options and the backend fixtures.

Thin by design: it resolves options, starts an executor, builds clients, and cleans up. Everything else
lives in ``receipt_compaction`` and ``pytest_receipt_compaction.executors``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_receipt_compaction.executors import Backend, BackendUnavailable, make_executor
from pytest_receipt_compaction.options import OPTIONS, HarnessSettings, OptionError, resolve_settings
from receipt_compaction.aws import AwsClients

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["aws_clients", "compaction_backend"]

_SETTINGS_KEY = pytest.StashKey[HarnessSettings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "receipt_compaction", "receipt-compaction (DynamoDB stream -> SQS -> Chroma harness)"
    )
    for option in OPTIONS:
        default = f" (default: {option.default})" if option.default else ""
        group.addoption(
            option.cli,
            dest=option.dest,
            default=None,
            metavar=option.name.upper(),
            help=f"{option.help}{default}; ini {option.ini}, env {option.env}",
        )
        parser.addini(option.ini, f"{option.help}{default}", default=None)


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_SETTINGS_KEY] = resolve_settings(config.getoption, config.getini)
    except OptionError as error:
        raise pytest.UsageError(f"receipt-compaction: {error}") from None


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash[_SETTINGS_KEY]
    where = settings.endpoint or "embedded"
    return f"receipt-compaction: backend={settings.backend} endpoint={where} region={settings.region}"


def harness_settings(config: pytest.Config) -> HarnessSettings:
    return config.stash[_SETTINGS_KEY]


@pytest.fixture(scope="session")
def compaction_backend(pytestconfig: pytest.Config) -> Iterator[Backend]:
    """Session: the running AWS endpoint (URL, region, credentials), started once and stopped at the end."""
    settings = harness_settings(pytestconfig)
    try:
        executor = make_executor(
            backend=settings.backend,
            endpoint=settings.endpoint,
            region=settings.region,
            start_timeout=settings.start_timeout,
        )
        backend = executor.start()
    except BackendUnavailable as error:
        pytest.skip(str(error))
    try:
        yield backend
    finally:
        executor.stop()


@pytest.fixture(scope="session")
def aws_clients(compaction_backend: Backend) -> AwsClients:
    """Session: boto3 clients (``dynamodb``, ``dynamodbstreams``, ``sqs``, ``s3``) bound to the backend."""
    return AwsClients.connect(**compaction_backend.client_kwargs())
