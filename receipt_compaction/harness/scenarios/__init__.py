"""YAML scenarios (``*.scenario.yaml``): loading, validation, stage actions and running.

Nothing here imports pytest (the operator CLI lints scenarios with it); the pytest items are in ``items``.
"""

from __future__ import annotations

from receipt_compaction.harness.scenarios.actions import BUILTIN_ACTIONS, StageAction
from receipt_compaction.harness.scenarios.context import ScenarioContext, StageFailure
from receipt_compaction.harness.scenarios.loader import ScenarioSyntaxError, load_scenario_yaml
from receipt_compaction.harness.scenarios.runner import ScenarioFailure, run_scenario
from receipt_compaction.harness.scenarios.spec import SCENARIO_SCHEMA, Scenario, validate_scenario

__all__ = [
    "BUILTIN_ACTIONS",
    "SCENARIO_SCHEMA",
    "Scenario",
    "ScenarioContext",
    "ScenarioFailure",
    "ScenarioSyntaxError",
    "StageAction",
    "StageFailure",
    "load_scenario_yaml",
    "run_scenario",
    "validate_scenario",
]
