"""Fixture factories: ``compaction_env`` and ``pipeline`` fixtures with your own settings.

In a ``conftest.py`` (the variable's name is the fixture's name)::

    from pytest_receipt_compaction import factories

    fifo_env = factories.compaction_env(fifo=True, max_receives=5, prefix="team-a")
    fifo_pipeline = factories.pipeline("fifo_env")

The plugin's own ``compaction_env`` and ``pipeline`` fixtures are made here too, with the defaults. A bad
option fails when the conftest is imported, naming the option and the values SQS accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from receipt_compaction.harness.janitor import CompactionEnv, ResourceOptions, open_compaction_env
from receipt_compaction.harness.settings import HarnessSettings
from receipt_compaction.harness.trace import write_trace_files, write_trace_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.harness.backends import Backend
    from receipt_compaction.harness.pipeline import LocalPipeline

__all__ = ["compaction_env", "harness_settings", "pipeline"]

SETTINGS_KEY = pytest.StashKey[HarnessSettings]()
"""The resolved options, stored by the plugin's ``pytest_configure``."""
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
"""A test's reports by phase, stored by the plugin's ``pytest_runtest_makereport``."""
PIPELINES_KEY = pytest.StashKey[list["LocalPipeline"]]()
"""The pipelines a test uses: the plugin shows the last drain's timeline of a failed one."""


def harness_settings(config: pytest.Config) -> HarnessSettings:
    return config.stash[SETTINGS_KEY]


def compaction_env(
    *,
    fifo: bool = False,
    max_receives: int | None = None,
    visibility_timeout: int | None = None,
    prefix: str = "rc",
) -> Callable[..., Iterator[CompactionEnv]]:
    """A function-scoped fixture yielding a ``CompactionEnv``: a table with its stream, ``lines``/``words``
    queues (FIFO when ``fifo``) with DLQs after ``max_receives`` receives, a stream on-failure queue, a
    bucket, and EFS/work directories under ``tmp_path/<fixture name>``; every name starts with ``prefix`` and
    a unique part, all is torn down after the test, and the handlers' variables are set for its duration.
    ``max_receives`` and ``visibility_timeout`` left None are the deployed queues' (deploy/template.yaml)."""
    chosen = {"max_receives": max_receives, "visibility_timeout": visibility_timeout}
    options = ResourceOptions(
        prefix=prefix, fifo=fifo, **{name: value for name, value in chosen.items() if value is not None}
    )

    def env_fixture(
        request: pytest.FixtureRequest,
        compaction_backend: Backend,
        aws_clients: AwsClients,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[CompactionEnv]:
        root = tmp_path / str(request.fixturename)
        with open_compaction_env(compaction_backend, aws_clients, root=root, options=options) as env:
            for name, value in env.environ.items():
                monkeypatch.setenv(name, value)
            yield env

    env_fixture.__doc__ = f"Function: isolated pipeline resources, torn down after the test; {options}."
    return pytest.fixture(env_fixture)


def pipeline(env_fixture_name: str) -> Callable[..., Iterator[LocalPipeline]]:
    """A function-scoped fixture yielding the local driver (``LocalPipeline``) over the resources of the
    fixture named ``env_fixture_name`` (one made by ``compaction_env``). With ``keep-artifacts``, a failed
    test keeps its directories and drain reports and says where."""
    if not isinstance(env_fixture_name, str):
        raise TypeError(
            f"factories.pipeline takes the name of an env fixture, e.g. factories.pipeline('fifo_env'), "
            f"not {env_fixture_name!r}"
        )

    def pipeline_fixture(request: pytest.FixtureRequest, aws_clients: AwsClients) -> Iterator[LocalPipeline]:
        from receipt_compaction.harness.pipeline import LocalPipeline  # noqa: PLC0415 - chromadb only when used

        env = request.getfixturevalue(env_fixture_name)
        if not isinstance(env, CompactionEnv):
            pytest.fail(
                f"fixture {env_fixture_name!r} gave a {type(env).__name__}, not a CompactionEnv: name a "
                "fixture made by factories.compaction_env(...)",
                pytrace=False,
            )
        timing = harness_settings(request.config).drain_timing()
        driver = LocalPipeline(
            aws_clients,
            env.resources,
            env.environ,
            quiet_period=timing.quiet_period,
            drain_deadline=timing.deadline,
        )
        request.node.stash.setdefault(PIPELINES_KEY, []).append(driver)
        yield driver
        settings = harness_settings(request.config)
        if settings.trace_dir is not None and driver.traces:
            _write_traces(Path(settings.trace_dir), request.node, driver)
        if settings.keep_artifacts and _failed(request.node):
            path = env.keep_drain_reports(driver.reports)
            traces = write_trace_json(
                env.root / "drain-traces.json",
                test=request.node.nodeid,
                outcome="failed",
                traces=driver.traces,
            )
            request.node.add_report_section(
                "teardown",
                "receipt-compaction",
                f"artifacts kept in {env.root} (drain reports: {path}); drain timelines: {traces}",
            )

    pipeline_fixture.__doc__ = (
        f"Function: the local driver over {env_fixture_name!r}: ``seed_receipt``, ``put``, ``delete``, "
        "``drain``, ``latest_snapshot``."
    )
    return pytest.fixture(pipeline_fixture)


def _failed(item: pytest.Item) -> bool:
    return any(report.failed for report in item.stash.get(REPORTS_KEY, {}).values())


def _outcome(item: pytest.Item) -> str:
    reports = item.stash.get(REPORTS_KEY, {})
    if any(report.failed for report in reports.values()):
        return "failed"
    return "skipped" if any(report.skipped for report in reports.values()) else "passed"


def _write_traces(directory: Path, item: pytest.Item, driver: LocalPipeline) -> None:
    name = item.nodeid if len(item.stash.get(PIPELINES_KEY, [])) < 2 else f"{item.nodeid}-{id(driver):x}"
    write_trace_files(directory, test=name, outcome=_outcome(item), traces=driver.traces)
