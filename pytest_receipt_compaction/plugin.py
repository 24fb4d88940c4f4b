"""pytest plugin ``receipt_compaction``: options and the backend fixtures.

Thin by design: it resolves options, starts an executor, builds clients, and cleans up. Everything else
lives in ``receipt_compaction`` and ``receipt_compaction.harness.backends``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.harness.backends import Backend, BackendUnavailable, make_executor
from receipt_compaction.harness.janitor import PipelineResources, pipeline_resources
from receipt_compaction.harness.settings import OPTIONS, HarnessSettings, OptionError, resolve_settings

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator
    from pathlib import Path

    from receipt_compaction.harness.pipeline import LocalPipeline

__all__ = ["aws_clients", "compaction_backend", "compaction_env", "pipeline"]

_SETTINGS_KEY = pytest.StashKey[HarnessSettings]()
_REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()


@dataclass(frozen=True)
class CompactionEnv:
    """What ``compaction_env`` yields: the resources, the backend, and the environment the handlers read."""

    resources: PipelineResources
    backend: Backend
    environ: dict[str, str]
    root: Path


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


@pytest.fixture
def compaction_env(
    compaction_backend: Backend, aws_clients: AwsClients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CompactionEnv]:
    """Function: a uniquely named table with its stream, ``lines``/``words`` queues with DLQs, a stream
    on-failure queue, a bucket and local EFS/work directories, torn down after the test; the handlers'
    environment variables are set for the test's duration."""
    root = tmp_path / "receipt-compaction"
    with pipeline_resources(aws_clients, root=root, region=compaction_backend.region) as resources:
        environ = {**compaction_backend.environ(), **resources.environ()}
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        yield CompactionEnv(resources, compaction_backend, environ, root)


@pytest.fixture
def pipeline(
    request: pytest.FixtureRequest, compaction_env: CompactionEnv, aws_clients: AwsClients
) -> Iterator[LocalPipeline]:
    """Function: the local driver over ``compaction_env``: ``seed_receipt``, ``put``, ``delete``, ``drain``,
    ``latest_snapshot``."""
    from receipt_compaction.harness.pipeline import LocalPipeline  # noqa: PLC0415 - chromadb only when used

    driver = LocalPipeline(aws_clients, compaction_env.resources, compaction_env.environ)
    yield driver
    if harness_settings(request.config).keep_artifacts and _failed(request.node):
        path = compaction_env.root / "drain-reports.json"
        path.write_text("[" + ",\n".join(report.to_json() for report in driver.reports) + "]\n")
        request.node.add_report_section(
            "teardown",
            "receipt-compaction",
            f"artifacts kept in {compaction_env.root} (drain reports: {path})",
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS_KEY, {})[report.when] = report
    return report


def _failed(item: pytest.Item) -> bool:
    reports = item.stash.get(_REPORTS_KEY, {})
    return any(report.failed for report in reports.values())
