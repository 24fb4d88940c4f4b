"""YAML scenarios (``*.scenario.yaml``): loading, validation, stage actions and running.

Nothing here imports pytest (the operator CLI lints scenarios with it); the pytest items live in the
plugin package.
"""

from __future__ import annotations

from receipt_compaction.harness.scenarios.actions import BUILTIN_ACTIONS, StageAction
from receipt_compaction.harness.scenarios.context import ScenarioContext, StageFailure
from receipt_compaction.harness.scenarios.loader import ScenarioSyntaxError, load_scenario_yaml
from receipt_compaction.harness.scenarios.runner import ScenarioFailure, run_scenario
from receipt_compaction.harness.scenarios.schema import render_schema, scenario_schema, shipped_schema_path
from receipt_compaction.harness.scenarios.spec import (
    Scenario,
    ScenarioDeprecation,
    ScenarioDeprecationWarning,
    validate_scenario,
)
from receipt_compaction.harness.scenarios.vocabulary import (
    ENTRY_POINT_GROUP,
    Contribution,
    StageActionError,
    known_actions,
)

__all__ = [
    "BUILTIN_ACTIONS",
    "ENTRY_POINT_GROUP",
    "Contribution",
    "Scenario",
    "ScenarioContext",
    "ScenarioDeprecation",
    "ScenarioDeprecationWarning",
    "ScenarioFailure",
    "ScenarioSyntaxError",
    "StageAction",
    "StageActionError",
    "StageFailure",
    "known_actions",
    "load_scenario_yaml",
    "render_schema",
    "run_scenario",
    "scenario_schema",
    "shipped_schema_path",
    "validate_scenario",
]
