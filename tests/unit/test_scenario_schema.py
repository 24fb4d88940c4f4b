"""The scenario schema is generated from the entities and the actions, the shipped file is that output, and
validation gives one readable error with its line; the old seed spelling of labels still works."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from receipt_compaction.harness.scenarios import (
    BUILTIN_ACTIONS,
    ScenarioFailure,
    ScenarioSyntaxError,
    StageAction,
    load_scenario_yaml,
    render_schema,
    scenario_schema,
    shipped_schema_path,
    validate_scenario,
)
from receipt_compaction.harness.scenarios.schema import entity_argument_schema
from receipt_compaction.harness.scenarios.writing import ENTITY_KINDS
from tests.support.paths import SCENARIOS

if TYPE_CHECKING:
    from pathlib import Path

ACTIONS = {action.name: action for action in BUILTIN_ACTIONS}
SHIPPED = json.loads(shipped_schema_path().read_text())
EDITOR = Draft202012Validator(SHIPPED)
SCHEMA_COMMENT = (
    "# yaml-language-server: $schema=../receipt_compaction/harness/scenarios/scenario.schema.json"
)


def test_the_shipped_file_is_what_the_generator_writes_for_the_built_in_actions() -> None:
    # Regenerate: receipt-compaction scenarios schema --builtin-only > <the shipped file>
    assert shipped_schema_path().read_text() == render_schema(scenario_schema(BUILTIN_ACTIONS))
    Draft202012Validator.check_schema(SHIPPED)


def test_stages_are_one_closed_branch_per_action() -> None:
    branches = SHIPPED["$defs"]["stage"]["oneOf"]
    assert [branch["required"] for branch in branches] == [[action.name] for action in BUILTIN_ACTIONS]
    assert all(branch["additionalProperties"] is False for branch in branches)
    assert all(set(branch["properties"]) == {"name", *branch["required"]} for branch in branches)


@pytest.mark.parametrize("kind", list(ENTITY_KINDS))
def test_entity_branches_carry_the_models_fields(kind: str) -> None:
    model = ENTITY_KINDS[kind]
    fields = [name for name in model.model_fields if name not in ("image_id", "receipt_id")]
    keys = [name for name in model.key_fields() if name not in ("image_id", "receipt_id")]
    expected = {"put": fields, "update": fields, "delete": keys}
    for mode, names in expected.items():
        schema = entity_argument_schema(mode=mode)  # type: ignore[arg-type]
        (branch,) = [b for b in schema["oneOf"] if b["properties"]["entity"]["const"] == kind]
        assert list(branch["properties"]) == ["entity", "receipt", *names]
        assert branch["additionalProperties"] is False
    put = entity_argument_schema(mode="put")["oneOf"]
    (branch,) = [b for b in put if b["properties"]["entity"]["const"] == kind]
    required = [n for n in model.model_json_schema()["required"] if n not in ("image_id", "receipt_id")]
    assert branch["required"] == ["entity", "receipt", *required]


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.scenario.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_points_editors_at_the_schema_and_is_valid_there(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == SCHEMA_COMMENT
    assert (path.parent / SCHEMA_COMMENT.split("$schema=", 1)[1]).resolve() == shipped_schema_path().resolve()
    assert list(EDITOR.iter_errors(yaml.safe_load(text))) == []
    assert validate_scenario(path, load_scenario_yaml(path), ACTIONS).deprecations == ()


def test_an_editor_sees_a_misspelt_entity_field_too() -> None:
    document = {
        "name": "x",
        "stages": [{"put": {"entity": "label", "receipt": "r", "line_id": 1, "word_id": 1, "label": "T"}}],
    }
    assert list(EDITOR.iter_errors(document)) == []
    document["stages"][0]["put"]["validaton_status"] = "VALID"
    assert list(EDITOR.iter_errors(document)) != []


SETTLE = StageAction(
    "settle",
    "Takes no fields.",
    {"type": ["object", "null"], "additionalProperties": False},
    lambda context, argument: None,
)


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "x.scenario.yaml"
    path.write_text(text)
    return validate_scenario(path, load_scenario_yaml(path), {**ACTIONS, "settle": SETTLE})


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            "name: x\nstages:\n  - update:\n      entity: metadata\n      receipt: r\n      merchant: X\n",
            6,
            "stage 1 (update): stages.0.update.merchant: unknown field 'merchant' (did you mean "
            "'merchant_name'?); allowed: entity, receipt, merchant_name, canonical_merchant_name, "
            "merchant_category, address, phone_number, place_id",
        ),
        (
            "name: x\nstages:\n  - put: {entity: word, receipt: r, line_id: 1, word_id: 1}\n",
            3,
            "stage 1 (put): stages.0.put: 'text' is a required property",
        ),
        (
            "name: x\nstages:\n  - settle: {now: true}\n",
            3,
            "stage 1 (settle): stages.0.settle.now: unknown field 'now'; it takes no fields",
        ),
        (
            "name: x\nstages:\n  - expect_dlq:\n      collection: words\n      count: 1\n      cuont: 2\n",
            6,
            "stage 1 (expect_dlq): stages.0.expect_dlq.cuont: unknown field 'cuont' (did you mean 'count'?); "
            "allowed: collection, count",
        ),
        (
            "name: x\nseed:\n  - receipt: r\n    lines: [[A]]\n    labels:\n      - {line_id: 1, word: 1, "
            "lable: X}\nstages: [{drain: }]\n",
            6,
            "seed.0.labels.0.lable: unknown field 'lable' (did you mean 'label'?); allowed: line_id, word_id, "
            "label, validation_status, reasoning, label_proposed_by, label_consolidated_from, timestamp_added",
        ),
    ],
)
def test_one_readable_error_at_the_line_of_the_field(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    with pytest.raises(ScenarioSyntaxError) as raised:
        load(tmp_path, text)
    assert (raised.value.line, raised.value.problem) == (line, problem)


OLD = """\
name: old
seed:
  - receipt: shop
    lines: [[TOTAL, "9.99"]]
    labels:
      - {line: 1, word: 2, label: GRAND_TOTAL, status: VALID}
      - line_id: 1
        word: 1
        label: TAX
stages: [{drain: }]
"""


def test_the_old_seed_spelling_works_and_each_old_word_is_a_deprecation_with_its_line(tmp_path: Path) -> None:
    scenario = load(tmp_path, OLD)
    labels = [dict(label) for label in scenario.seed[0]["labels"]]
    assert labels == [
        {"line_id": 1, "word_id": 2, "label": "GRAND_TOTAL", "validation_status": "VALID"},
        {"line_id": 1, "word_id": 1, "label": "TAX"},
    ]
    assert [(d.line, d.problem) for d in scenario.deprecations] == [
        (6, "seed.0.labels.0.line: 'line' is deprecated, write 'line_id' (as stages do)"),
        (6, "seed.0.labels.0.word: 'word' is deprecated, write 'word_id' (as stages do)"),
        (6, "seed.0.labels.0.status: 'status' is deprecated, write 'validation_status' (as stages do)"),
        (8, "seed.0.labels.1.word: 'word' is deprecated, write 'word_id' (as stages do)"),
    ]
    assert (
        str(scenario.deprecations[3])
        == f"{tmp_path / 'x.scenario.yaml'}:8: {scenario.deprecations[3].problem}"
    )
    new = load(
        tmp_path,
        OLD.replace("line:", "line_id:")
        .replace("word:", "word_id:")
        .replace("status:", "validation_status:"),
    )
    assert [dict(label) for label in new.seed[0]["labels"]] == labels
    assert new.deprecations == ()


def test_a_failure_report_quotes_the_stage_then_expected_actual_and_cause(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        "# comment\nname: report\nstages:\n  - drain:\n  - name: counted\n    expect_messages:\n"
        "      collection: words\n      count: 2\n\n  # not part of the stage\n",
    )
    assert scenario.line == 2
    failure = ScenarioFailure(
        scenario, scenario.stages[1], "wrong count", expected=2, actual=1, cause=ValueError("why")
    )
    assert str(failure).splitlines() == [
        "scenario 'report' failed at stage 'counted' (x.scenario.yaml:5)",
        "",
        "  5 |   - name: counted",
        "  6 |     expect_messages:",
        "  7 |       collection: words",
        "  8 |       count: 2",
        "",
        "  wrong count",
        "  expected: 2",
        "  actual:   1",
        "  cause: ValueError: why",
    ]
    assert [line.kind for line in failure.report()][:3] == ["header", "blank", "source"]
    seed = ScenarioFailure(scenario, None, "seeding failed")
    assert str(seed).splitlines() == [
        "scenario 'report' failed at seed (x.scenario.yaml:2)",
        "  seeding failed",
    ]
