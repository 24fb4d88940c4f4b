"""Collecting ``*.scenario.yaml`` files: one test per file, run through the ``pipeline`` fixture.

A file that does not load or validate becomes a failing test whose message names the file, the line and the
problem; it never stops collection of the others. A stage that fails is reported like the scenario reads
(``ScenarioFailure.report()``); anything unexpected gets pytest's traceback.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from _pytest._code.code import TerminalRepr  # pytest's base for a failure report with markup

from receipt_compaction.harness.scenarios.loader import ScenarioSyntaxError, load_scenario_yaml
from receipt_compaction.harness.scenarios.runner import ScenarioFailure, run_scenario
from receipt_compaction.harness.scenarios.spec import (
    Scenario,
    ScenarioDeprecationWarning,
    validate_scenario,
)
from receipt_compaction.harness.scenarios.vocabulary import (
    Contribution,
    StageActionError,
    builtin_contribution,
    contribution,
    installed_contributions,
    vocabulary,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _pytest._io import TerminalWriter

    from receipt_compaction.harness.pipeline import LocalPipeline
    from receipt_compaction.harness.scenarios.actions import StageAction
    from receipt_compaction.harness.scenarios.runner import ReportLine

__all__ = ["SCENARIO_SUFFIX", "InvalidScenario", "ScenarioFile", "ScenarioItem", "stage_actions"]

SCENARIO_SUFFIX = ".scenario.yaml"
_INSTALLED = pytest.StashKey[list[Contribution]]()


def stage_actions(config: pytest.Config) -> dict[str, StageAction]:
    """The built-in actions, those installed packages add (entry points, read once per session), and those
    of the ``pytest_receipt_compaction_stage_actions`` hook (conftest.py files, plugins); a clash or a broken
    contribution is a usage error naming where each came from."""
    try:
        if _INSTALLED not in config.stash:
            config.stash[_INSTALLED] = installed_contributions()
        hooked = [
            contribution(f"{impl.plugin_name} (pytest_receipt_compaction_stage_actions)", impl.function())
            for impl in config.hook.pytest_receipt_compaction_stage_actions.get_hookimpls()
        ]
        return vocabulary([builtin_contribution(), *config.stash[_INSTALLED], *hooked])
    except StageActionError as error:
        raise pytest.UsageError(f"receipt-compaction: {error}") from None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            document = load_scenario_yaml(self.path)
            scenario = validate_scenario(self.path, document, stage_actions(self.config))
        except ScenarioSyntaxError as error:
            yield InvalidScenario.from_parent(
                self, name=self.path.name.removesuffix(SCENARIO_SUFFIX), error=error
            )
            return
        for deprecation in scenario.deprecations:
            warnings.warn_explicit(
                ScenarioDeprecationWarning(deprecation.problem),
                ScenarioDeprecationWarning,
                filename=str(deprecation.path),
                lineno=deprecation.line,
            )
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


def _run(pipeline: LocalPipeline, request: pytest.FixtureRequest) -> None:
    item = request.node
    assert isinstance(item, ScenarioItem)
    run_scenario(item.scenario, pipeline)


class ScenarioItem(pytest.Function):
    """A scenario as a test function taking ``pipeline``: fixtures, -k, -m, -x and xdist all apply.

    Its ``marks`` are pytest marks like any other: register them under ``markers`` in the ini, and
    ``--strict-markers`` reports one that is not, as it does for a Python test."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(callobj=_run, **kwargs)
        self.scenario = scenario
        self.add_marker("scenario")
        for mark in scenario.marks:
            self.add_marker(mark)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.scenario.line - 1, f"scenario: {self.scenario.name}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str | TerminalRepr:  # type: ignore[override]
        """A stage failure reads like the scenario; anything unexpected gets the full traceback."""
        if isinstance(excinfo.value, ScenarioFailure):
            return ScenarioFailureRepr(excinfo.value.report())
        return super().repr_failure(excinfo)


_MARKUP: dict[str, dict[str, bool]] = {
    "header": {"bold": True, "red": True},
    "problem": {"bold": True, "red": True},
    "expected": {"green": True},
    "actual": {"red": True},
    "cause": {"yellow": True},
}


@dataclass(eq=False)
class ScenarioFailureRepr(TerminalRepr):
    """``ScenarioFailure.report()`` on the terminal: the header, the stage's YAML, expected, actual, cause."""

    lines: list[ReportLine]

    def toterminal(self, tw: TerminalWriter) -> None:
        for line in self.lines:
            tw.line(line.text, **_MARKUP.get(line.kind, {}))


class InvalidScenario(pytest.Item):
    """A scenario file that cannot run: the test fails with the file, the line and the problem."""

    def __init__(self, *, error: ScenarioSyntaxError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.error.line - 1, f"invalid scenario: {self.path.name}"

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioSyntaxError):
            return f"invalid scenario {excinfo.value}"
        return super().repr_failure(excinfo, style=style)
