"""pytest plugin ``receipt_compaction``: options, the backend fixtures, and the built-in ``compaction_env``
and ``pipeline`` fixtures (made by ``factories`` with the defaults, as a user's own are).

Thin by design: it resolves options, starts an executor, builds clients, and cleans up. Everything else
lives in ``receipt_compaction`` and ``receipt_compaction.harness``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_receipt_compaction import factories
from pytest_receipt_compaction.factories import PIPELINES_KEY, REPORTS_KEY, SETTINGS_KEY, harness_settings
from receipt_compaction.aws import AwsClients
from receipt_compaction.harness.backends import Backend, BackendUnavailable, executor_for
from receipt_compaction.harness.backends.resolution import EndpointMismatch, check_endpoints
from receipt_compaction.harness.janitor import CompactionEnv  # noqa: F401 - tests import it from here
from receipt_compaction.harness.settings import OPTIONS, OptionError, resolve_settings
from receipt_compaction.harness.trace import render_text

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator
    from pathlib import Path

    from receipt_compaction.harness.pipeline import LocalPipeline

__all__ = ["aws_clients", "compaction_backend", "compaction_env", "pipeline"]  # the fixtures (README table)


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


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_receipt_compaction import hookspecs  # noqa: PLC0415 - registered once, here

    pluginmanager.add_hookspecs(hookspecs)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``*.scenario.yaml`` files, and no other YAML (``docker-compose.yml`` stays out)."""
    if not file_path.name.endswith(".scenario.yaml"):
        return None
    from pytest_receipt_compaction.items import ScenarioFile  # noqa: PLC0415 - needs yaml/jsonschema

    return ScenarioFile.from_parent(parent, path=file_path)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: a YAML scenario collected by receipt-compaction")
    try:
        config.stash[SETTINGS_KEY] = resolve_settings(config.getoption, config.getini)
    except OptionError as error:
        raise pytest.UsageError(f"receipt-compaction: {error}") from None


def pytest_report_header(config: pytest.Config) -> str:
    settings = harness_settings(config)
    where = settings.endpoint or "embedded"
    dynamodb = f" dynamodb-endpoint={settings.dynamodb_endpoint}" if settings.dynamodb_endpoint else ""
    return (
        f"receipt-compaction: backend={settings.backend} endpoint={where}{dynamodb} region={settings.region}"
    )


@pytest.fixture(scope="session")
def compaction_backend(pytestconfig: pytest.Config) -> Iterator[Backend]:
    """Session: the running AWS endpoint (URL, region, credentials), started once and stopped at the end."""
    try:
        executor = executor_for(harness_settings(pytestconfig))
        backend = executor.start()
    except BackendUnavailable as error:
        pytest.skip(str(error))
    try:
        yield backend
    finally:
        executor.stop()


@pytest.fixture(scope="session")
def aws_clients(compaction_backend: Backend) -> AwsClients:
    """Session: boto3 clients (``dynamodb``, ``dynamodbstreams``, ``sqs``, ``s3``) bound to the backend; the
    session fails at once if the handlers would resolve another endpoint for any service."""
    clients = AwsClients.connect(**compaction_backend.client_kwargs())
    try:
        check_endpoints(compaction_backend, clients)
    except EndpointMismatch as error:
        pytest.fail(f"receipt-compaction: {error}", pytrace=False)
    return clients


compaction_env = factories.compaction_env()
pipeline = factories.pipeline("compaction_env")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(REPORTS_KEY, {})[report.when] = report
    if report.failed and report.when == "call":
        _show_last_drains(item, report)
    return report


def _show_last_drains(item: pytest.Item, report: pytest.TestReport) -> None:
    """A failed test's report shows the timeline of each of its pipelines' last drain."""
    drivers: list[LocalPipeline] = item.stash.get(PIPELINES_KEY, [])
    for number, driver in enumerate(drivers, start=1):
        if driver.traces:
            which = f" of pipeline {number}" if number > 1 else ""
            report.sections.append((f"receipt-compaction: last drain{which}", render_text(driver.traces[-1])))
