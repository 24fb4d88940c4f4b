"""Collecting ``*.scenario.yaml`` files: one test per file, run through the ``pipeline`` fixture.

A file that does not load or validate becomes a failing test whose message names the file, the line and the
problem; it never stops collection of the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from receipt_compaction.harness.scenarios.actions import BUILTIN_ACTIONS, StageAction
from receipt_compaction.harness.scenarios.loader import ScenarioSyntaxError, load_scenario_yaml
from receipt_compaction.harness.scenarios.runner import ScenarioFailure, run_scenario
from receipt_compaction.harness.scenarios.spec import Scenario, validate_scenario

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _pytest._code.code import TerminalRepr

    from receipt_compaction.harness.pipeline import LocalPipeline

__all__ = ["SCENARIO_SUFFIX", "InvalidScenario", "ScenarioFile", "ScenarioItem", "stage_actions"]

SCENARIO_SUFFIX = ".scenario.yaml"


def stage_actions(config: pytest.Config) -> dict[str, StageAction]:
    """The built-in actions plus those other plugins add through the hook; a clash is a usage error."""
    actions = {action.name: action for action in BUILTIN_ACTIONS}
    for contributed in config.hook.pytest_receipt_compaction_stage_actions():
        for action in contributed or ():
            if action.name in actions:
                raise pytest.UsageError(f"receipt-compaction: two stage actions are named {action.name!r}")
            actions[action.name] = action
    return actions


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
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


def _run(pipeline: LocalPipeline, request: pytest.FixtureRequest) -> None:
    item = request.node
    assert isinstance(item, ScenarioItem)
    run_scenario(item.scenario, pipeline)


class ScenarioItem(pytest.Function):
    """A scenario as a test function taking ``pipeline``: fixtures, -k, -m, -x and xdist all apply."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(callobj=_run, **kwargs)
        self.scenario = scenario
        self.add_marker("scenario")
        registered = {
            line.split(":", 1)[0].split("(", 1)[0].strip() for line in self.config.getini("markers")
        }
        for mark in scenario.marks:
            if mark not in registered:  # a scenario declares its marks; -m and --strict-markers accept them
                self.config.addinivalue_line("markers", f"{mark}: declared by a receipt-compaction scenario")
            self.add_marker(mark)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, 0, f"scenario: {self.scenario.name}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str | TerminalRepr:  # type: ignore[override]
        """A stage failure reads like the scenario; anything unexpected gets the full traceback."""
        if isinstance(excinfo.value, ScenarioFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


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
