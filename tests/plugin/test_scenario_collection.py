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
            "  metadata of IMAGE#*#RECEIPT#00001#LINE#00001#WORD#00002 differs",
            "  expected: {'valid_labels': ['TAX']}",
            "  actual:   {'valid_labels': ['GRAND_TOTAL']}",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_k_and_m_select_scenarios_and_other_yaml_is_not_collected(pytester: pytest.Pytester) -> None:
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


def test_other_packages_add_stage_actions_through_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from receipt_compaction.harness.scenarios import StageAction, StageFailure

        def pytest_receipt_compaction_stage_actions():
            def expect_receipts(context, argument):
                if len(context.receipts) != argument["count"]:
                    raise StageFailure("wrong receipt count", expected=argument["count"], actual=len(context.receipts))

            def explode(context, argument):
                raise RuntimeError("a bug in an action")

            schema = {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}
            return [
                StageAction("expect_receipts", "Check how many receipts were seeded.", schema, expect_receipts),
                StageAction("explode", "Raise.", {"type": "null"}, explode),
            ]
        """
    )
    pytester.makefile(
        ".scenario.yaml",
        custom="name: custom\nseed: [{receipt: a, lines: [[X]]}]\nstages:\n  - expect_receipts: {count: 1}\n",
        unexpected="name: unexpected\nstages:\n  - explode:\n",
    )
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*RuntimeError: a bug in an action*"]
    )  # the full traceback for the unexpected
