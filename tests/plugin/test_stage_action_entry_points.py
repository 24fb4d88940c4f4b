"""Stage actions that an installed distribution adds through the ``receipt_compaction.stage_actions`` entry
point group: ``receipt-compaction scenarios lint`` and ``scenarios schema`` know them, and so does the plugin.

The distribution is real metadata on disk (a ``*.dist-info`` with ``METADATA`` and ``entry_points.txt``
beside its module), found by ``importlib.metadata`` on ``PYTHONPATH`` as any installed package is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from receipt_compaction.harness.scenarios import shipped_schema_path

if TYPE_CHECKING:
    from pathlib import Path

pytest_plugins = ["pytester"]

ACTIONS_MODULE = """\
from receipt_compaction.harness.scenarios import StageAction, StageFailure


def stage_actions():
    def expect_receipts(context, argument):
        if len(context.receipts) != argument["count"]:
            raise StageFailure("wrong receipt count", expected=argument["count"], actual=len(context.receipts))

    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["count"],
        "properties": {"count": {"type": "integer", "minimum": 0}},
    }
    return [StageAction("expect_receipts", "Check how many receipts were seeded.", schema, expect_receipts)]


def clashing():
    return [StageAction("drain", "Another drain.", {"type": "null"}, lambda context, argument: None)]
"""

USES_IT = "name: uses_it\nseed: [{receipt: a, lines: [[X]]}]\nstages:\n  - drain:\n  - expect_receipts: {count: 1}\n"


def install_distribution(root: Path, *, name: str, entry_points: dict[str, str]) -> Path:
    """Write a distribution ``name`` 1.0 with ``entry_points`` in the stage-action group under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    (root / f"{module}.py").write_text(ACTIONS_MODULE)
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = [f"{entry} = {module}:{function}" for entry, function in entry_points.items()]
    (info / "entry_points.txt").write_text("[receipt_compaction.stage_actions]\n" + "\n".join(lines) + "\n")
    return root


def cli(*arguments: str, path: Path) -> subprocess.CompletedProcess[str]:
    """The operator CLI in a fresh interpreter that has the distribution at ``path`` installed."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "import sys; from receipt_compaction.cli import main; sys.exit(main())"]
    return subprocess.run(
        [*command, *arguments], capture_output=True, text=True, env=environ, check=False, timeout=120
    )


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    return install_distribution(
        tmp_path / "site", name="acme-actions", entry_points={"acme": "stage_actions"}
    )


def test_lint_knows_an_installed_action_and_still_fails_an_unknown_one(acme: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.scenario.yaml"
    good.write_text(USES_IT)
    passed = cli("scenarios", "lint", str(good), path=acme)
    assert (passed.returncode, passed.stdout.splitlines()) == (0, ["1 file(s), 0 invalid"]), passed.stderr

    wrong = tmp_path / "wrong.scenario.yaml"
    wrong.write_text("name: wrong\nstages:\n  - expect_receipts:\n      count: many\n")
    unknown = tmp_path / "unknown.scenario.yaml"
    unknown.write_text("name: unknown\nstages:\n  - drain:\n  - frobnicate: {}\n")
    failed = cli("scenarios", "lint", str(wrong), str(unknown), path=acme)
    assert failed.returncode == 1
    assert failed.stdout.splitlines() == [
        f"{wrong}:4: stage 1 (expect_receipts): stages.0.expect_receipts.count: 'many' is not of type 'integer'",
        f"{unknown}:4: stage 2: unknown action 'frobnicate' (known: compaction_run, delete, drain, "
        "expect_batch_failures, expect_dlq, expect_messages, expect_receipts, expect_run, expect_snapshot, "
        "fault, put, send_message, update)",
        "2 file(s), 2 invalid",
    ]


def test_without_the_distribution_its_action_is_unknown(tmp_path: Path) -> None:
    scenario = tmp_path / "uses_it.scenario.yaml"
    scenario.write_text(USES_IT)
    result = cli("scenarios", "lint", str(scenario), path=tmp_path / "nothing-installed")
    assert result.returncode == 1
    assert result.stdout.startswith(f"{scenario}:5: stage 2: unknown action 'expect_receipts' (known: ")


def test_the_schema_command_adds_installed_actions_and_builtin_only_is_the_shipped_file(acme: Path) -> None:
    everything = cli("scenarios", "schema", path=acme)
    assert everything.returncode == 0, everything.stderr
    branches = json.loads(everything.stdout)["$defs"]["stage"]["oneOf"]
    assert [next(iter(b["required"])) for b in branches][-1] == "expect_receipts"
    builtin = cli("scenarios", "schema", "--builtin-only", path=acme)
    assert builtin.stdout == shipped_schema_path().read_text()


def test_a_name_clash_with_a_built_in_action_is_one_line_naming_both(tmp_path: Path) -> None:
    site = install_distribution(tmp_path / "site", name="clashing-actions", entry_points={"mine": "clashing"})
    scenario = tmp_path / "x.scenario.yaml"
    scenario.write_text("name: x\nstages:\n  - drain:\n")
    result = cli("scenarios", "lint", str(scenario), path=site)
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr.splitlines() == [
        "receipt-compaction: two stage actions are named 'drain': one from receipt-compaction (built-in), one "
        "from entry point 'mine' (clashing_actions:clashing) of clashing-actions 1.0; rename one of them"
    ]


def test_a_broken_entry_point_names_its_distribution(tmp_path: Path) -> None:
    site = install_distribution(tmp_path / "site", name="broken-actions", entry_points={"gone": "missing"})
    scenario = tmp_path / "x.scenario.yaml"
    scenario.write_text("name: x\nstages:\n  - drain:\n")
    result = cli("scenarios", "lint", str(scenario), path=site)
    assert result.returncode == 3
    assert result.stderr.startswith(
        "receipt-compaction: entry point 'gone' (broken_actions:missing) of broken-actions 1.0 failed: "
        "AttributeError"
    )


def test_the_plugin_runs_a_scenario_with_an_installed_action(
    pytester: pytest.Pytester, acme: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(
        acme
    )  # importlib.metadata reads sys.path when asked: the package is installed
    pytester.makefile(".scenario.yaml", uses_it=USES_IT, wrong=USES_IT.replace("count: 1", "count: 3"))
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["  wrong receipt count", "  expected: 3", "  actual:   1"])
