"""Scenario files as users run them: collection, validation errors with file and line, failure reports,
selection with -k and -m, and stage actions added through the hook."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

PASSING = """\
name: {name}
marks: [{mark}]
seed:
  - receipt: shop
    lines: [[TOTAL, "9.99"]]
stages:
  - put: {{entity: label, receipt: shop, line_id: 1, word_id: 2, label: GRAND_TOTAL, validation_status: VALID}}
  - drain:
  - expect_snapshot: {{collection: words, ids: [shop/1/2], metadata: {{valid_labels: [GRAND_TOTAL]}}}}
"""


def test_an_unknown_stage_key_fails_with_file_and_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".scenario.yaml",
        broken="name: broken\nstages:\n  - drain:\n  - name: oops\n    frobnicate: {}\n",
    )
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*invalid scenario *broken.scenario.yaml:5: stage 2: unknown action 'frobnicate' (known: compaction_run, *"
        ]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nstages: [drain: {}, {put: {entity: nope, receipt: r}}]\n",
            "*:2: stage 2 (put): *entity: 'nope' is not one of*",
        ),
        (
            "name: x\nstages:\n  - drain:\n    put: {}\n",
            "*:3: stage 1: needs exactly one action, found drain, put*",
        ),
        ("name: x\nstages: [\n", "*:2: not valid YAML: *"),
        ("stages:\n  - drain:\n", "*:1: the document: 'name' is a required property*"),
        ("name: x\nname: y\nstages: [{drain: }]\n", "*:2: not valid YAML: duplicate key 'name'*"),
        (
            "name: x\nseed:\n  - receipt: r\n    lines: []\nstages: [{drain: }]\n",
            "*:4: seed.0.lines: [] should be non-empty*",
        ),
        (
            "name: x\nstages:\n  - fault: {crash_at: somewhere}\n",
            "*:3: stage 1 (fault): stages.0.fault.crash_at: 'somewhere' is not one of ['after_restore'*",
        ),
        (
            "name: x\nstages:\n  - drain:\n  - put:\n      entity: label\n      receipt: r\n"
            "      line_id: 1\n      word_id: 1\n      label: TOTAL\n      validaton_status: VALID\n",
            "*:10: stage 2 (put): stages.1.put.validaton_status: unknown field 'validaton_status' "
            "(did you mean 'validation_status'?); allowed: entity, receipt, line_id, *",
        ),
        (
            "name: x\nstages:\n  - delete: {entity: metadata, receipt: r, merchant_name: X}\n",
            "*:3: stage 1 (delete): stages.0.delete.merchant_name: unknown field 'merchant_name'; "
            "allowed: entity, receipt",
        ),
        (
            "name: x\nseed:\n  - receipt: r\n    lines: [[A]]\n    labels:\n"
            "      - {line_id: 1, word_id: 1, label: X, status: VALID, validation_status: VALID}\nstages: [{drain: }]\n",
            "*:6: seed.0.labels.0.status: write 'validation_status' only (it replaces 'status')",
        ),
    ],
)
def test_invalid_files_are_failing_tests_naming_file_and_line(
    pytester: pytest.Pytester, text: str, message: str
) -> None:
    pytester.makefile(".scenario.yaml", bad=text)
    pytester.makefile(".scenario.yaml", good="name: good\nstages:\n  - drain:\n")
    result = pytester.runpytest("-p", "receipt_compaction", "-rf")
    result.assert_outcomes(failed=1, passed=1)  # a bad file never stops the others
    result.stdout.fnmatch_lines([message])


def test_a_wrong_expectation_names_the_stage_its_line_and_expected_against_actual(
    pytester: pytest.Pytester,
) -> None:
    text = PASSING.format(name="wrong", mark="slow").replace(
        "valid_labels: [GRAND_TOTAL]", "valid_labels: [TAX]"
    )
    pytester.makefile(".scenario.yaml", wrong=text)
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenario 'wrong' failed at stage '3: expect_snapshot' (wrong.scenario.yaml:9)",
            "",
            "  9 |   - expect_snapshot: {collection: words, ids: [shop/1/2], metadata: {valid_labels: [TAX]}}",
            "",
            "  metadata of IMAGE#*#RECEIPT#00001#LINE#00001#WORD#00002 differs",
            "  expected: {'valid_labels': ['TAX']}",
            "  actual:   {'valid_labels': ['GRAND_TOTAL']}",
        ],
        consecutive=True,
    )
    assert "Traceback" not in result.stdout.str()


def test_a_failing_stage_on_several_lines_is_quoted_whole_with_its_name_and_the_cause(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(
        ".scenario.yaml",
        quoted="""\
# a comment first
name: quoted
seed:
  - receipt: shop
    lines: [[TOTAL]]
stages:
  - drain:
  - name: a label nobody wrote
    update:
      entity: label
      receipt: shop
      line_id: 1
      word_id: 1
      label: TOTAL

  # trailing comment
""",
    )
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenario 'quoted' failed at stage 'a label nobody wrote' (quoted.scenario.yaml:8)",
            "",
            "   8 |   - name: a label nobody wrote",
            "   9 |     update:",
            "  10 |       entity: label",
            "  11 |       receipt: shop",
            "  12 |       line_id: 1",
            "  13 |       word_id: 1",
            "  14 |       label: TOTAL",
            "",
            "  there is no ReceiptWordLabel with that key to update",
        ],
        consecutive=True,
    )
    assert "trailing comment" not in result.stdout.str()


def test_an_unexpected_exception_keeps_its_traceback_and_names_the_stage(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from receipt_compaction.harness.scenarios import StageAction

        def pytest_receipt_compaction_stage_actions():
            def explode(context, argument):
                raise RuntimeError("a bug in an action")

            return [StageAction("explode", "Raise.", {"type": "null"}, explode)]
        """
    )
    pytester.makefile(".scenario.yaml", unexpected="name: unexpected\nstages:\n  - drain:\n  - explode:\n")
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*def explode(context, argument):*",
            "E*RuntimeError: a bug in an action",
            "*in stage '2: explode' of *unexpected.scenario.yaml:4",
        ]
    )


def test_reportinfo_gives_the_line_of_the_scenario(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", placed="# schema comment\n\nname: placed\nstages:\n  - drain:\n")
    items, _ = pytester.inline_genitems("-p", "receipt_compaction")
    (item,) = items
    path, line, description = item.reportinfo()
    assert (path.name, line, description) == ("placed.scenario.yaml", 2, "scenario: placed")  # 0-based
    assert item.location[1] == 2


def test_k_and_m_select_scenarios_and_other_yaml_is_not_collected(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    fast: quick ones\n    slow: slow ones\n")
    pytester.makefile(".scenario.yaml", first=PASSING.format(name="first_one", mark="fast"))
    pytester.makefile(".scenario.yaml", second=PASSING.format(name="second_one", mark="slow"))
    pytester.makefile(".yml", **{"docker-compose": "services: {localstack: {image: x}}\n"})
    pytester.makefile(".yaml", other="name: not a scenario\nstages: [{drain: }]\n")
    collected = pytester.runpytest("-p", "receipt_compaction", "--collect-only", "-q")
    collected.stdout.fnmatch_lines(
        ["*first.scenario.yaml::first_one", "*second.scenario.yaml::second_one", "2 tests collected*"]
    )
    by_name = pytester.runpytest("-p", "receipt_compaction", "-k", "second")
    by_name.assert_outcomes(passed=1, deselected=1)
    by_mark = pytester.runpytest("-p", "receipt_compaction", "-m", "fast", "--strict-markers")
    by_mark.assert_outcomes(passed=1, deselected=1)
    scenarios_only = pytester.runpytest("-p", "receipt_compaction", "-m", "scenario")
    scenarios_only.assert_outcomes(passed=2)


def test_scenario_marks_follow_the_ini_markers_and_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    registered: a mark the project declares\n")
    pytester.makefile(".scenario.yaml", good=PASSING.format(name="good", mark="registered"))
    pytester.makefile(".scenario.yaml", typo=PASSING.format(name="typo", mark="registred"))
    strict = pytester.runpytest("-p", "receipt_compaction", "--strict-markers", "-m", "registered")
    strict.assert_outcomes(errors=1)  # as for a Python test with an unregistered mark
    strict.stdout.fnmatch_lines(
        ["*ERROR collecting typo.scenario.yaml*", "*'registred' not found in `markers` configuration option*"]
    )
    lenient = pytester.runpytest("-p", "receipt_compaction", "-m", "registered")
    lenient.assert_outcomes(passed=1, deselected=1)
    lenient.stdout.fnmatch_lines(["*PytestUnknownMarkWarning: Unknown pytest.mark.registred*"])
    pytester.makefile(".scenario.yaml", typo=PASSING.format(name="typo", mark="registered"))
    selected = pytester.runpytest("-p", "receipt_compaction", "--strict-markers", "-m", "registered")
    selected.assert_outcomes(passed=2)
    assert "registred" not in selected.stdout.str()


def test_the_old_seed_spelling_of_labels_works_with_a_deprecation_warning(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".scenario.yaml",
        old=PASSING.format(name="old", mark="scenario").replace(
            '    lines: [[TOTAL, "9.99"]]\n',
            '    lines: [[TOTAL, "9.99"]]\n    labels:\n      - {line: 1, word: 1, label: TOTAL, status: VALID}\n',
        ),
    )
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*old.scenario.yaml:7: ScenarioDeprecationWarning: seed.0.labels.0.line: 'line' is deprecated, "
            "write 'line_id' (as stages do)",
            "*old.scenario.yaml:7: ScenarioDeprecationWarning: seed.0.labels.0.status: 'status' is deprecated, "
            "write 'validation_status' (as stages do)",
        ]
    )


def test_other_packages_add_stage_actions_through_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from receipt_compaction.harness.scenarios import StageAction, StageFailure

        def pytest_receipt_compaction_stage_actions():
            def expect_receipts(context, argument):
                if len(context.receipts) != argument["count"]:
                    raise StageFailure("wrong receipt count", expected=argument["count"], actual=len(context.receipts))

            schema = {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}
            return [StageAction("expect_receipts", "Check how many receipts were seeded.", schema, expect_receipts)]
        """
    )
    pytester.makefile(
        ".scenario.yaml",
        custom="name: custom\nseed: [{receipt: a, lines: [[X]]}]\nstages:\n  - expect_receipts: {count: 1}\n",
        wrong="name: wrong\nstages:\n  - expect_receipts: {count: 2}\n",
    )
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenario 'wrong' failed at stage '1: expect_receipts' (wrong.scenario.yaml:3)",
            "*3 |   - expect_receipts: {count: 2}",
            "  wrong receipt count",
            "  expected: 2",
            "  actual:   0",
        ]
    )


def test_a_hook_action_named_like_a_built_in_one_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from receipt_compaction.harness.scenarios import StageAction

        def pytest_receipt_compaction_stage_actions():
            return [StageAction("drain", "Mine.", {"type": "null"}, lambda context, argument: None)]
        """
    )
    pytester.makefile(".scenario.yaml", clash="name: clash\nstages:\n  - drain:\n")
    result = pytester.runpytest("-p", "receipt_compaction")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "*receipt-compaction: two stage actions are named 'drain': one from receipt-compaction (built-in), "
            "one from *conftest.py (pytest_receipt_compaction_stage_actions); rename one of them*"
        ]
    )
