"""The README's option and fixture tables stay true to the code."""

from __future__ import annotations

import re

import pytest

from pytest_receipt_compaction import plugin
from receipt_compaction.harness.scenarios import shipped_schema_path
from receipt_compaction.harness.scenarios.reference import stage_reference
from receipt_compaction.harness.settings import OPTIONS
from tests.support.paths import REPO, SCENARIOS

README = (REPO / "README.md").read_text()


def table_rows(heading: str) -> list[list[str]]:
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_readme_starts_with_the_two_commands() -> None:
    block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    assert block.splitlines() == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && pytest -p receipt_compaction scenarios",
        "pytest tests",
    ]
    ci = REPO.joinpath(".ci", "run").read_text()
    assert "\npytest tests\n" in ci
    assert "\npytest -p receipt_compaction scenarios\n" in ci


def test_option_table_matches_the_declared_options() -> None:
    rows = table_rows("Plugin options")
    expected = [
        [f"`{o.cli}`", f"`{o.ini}`", f"`{o.env}`", f"`{o.default}`" if o.default else "(none)"]
        for o in OPTIONS
    ]
    assert [row[:4] for row in rows] == expected


def test_fixture_table_matches_the_plugin_fixtures() -> None:
    documented = [re.sub(r"`", "", row[0]) for row in table_rows("Plugin fixtures")]
    assert sorted(documented) == sorted(plugin.__all__)


pytest_plugins = ["pytester"]


def test_the_downstream_example_in_the_readme_passes(pytester: pytest.Pytester) -> None:
    example = (
        README.split("A downstream test needs no conftest", 1)[1]
        .split("```python\n", 1)[1]
        .split("```", 1)[0]
    )
    pytester.makepyfile(test_example=example)
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(passed=1)


def test_the_first_scenario_in_the_readme_is_the_shipped_file() -> None:
    block = README.split("### Your first scenario", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    shipped = SCENARIOS / "label_insert_after_seeding_shows_up.scenario.yaml"
    assert block == shipped.read_text()
    comment, *scenario = block.splitlines()
    schema = comment.removeprefix("# yaml-language-server: $schema=")
    assert (shipped.parent / schema).resolve() == shipped_schema_path().resolve()  # editors find it
    assert len(scenario) <= 10


def test_the_stage_reference_in_the_readme_is_generated_from_the_actions() -> None:
    section = README.split("### Stage reference", 1)[1].split("###", 1)[0]
    assert stage_reference() in section


def test_the_hook_example_in_the_readme_is_the_one_the_tests_run() -> None:
    example = README.split("### Adding stage actions", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "README", "exec"), namespace)
    hook = namespace["pytest_receipt_compaction_stage_actions"]
    (action,) = hook()  # type: ignore[operator]
    assert action.name == "expect_receipts"


def layout_paths() -> list[str]:
    """The paths the README's layout block names (indentation says what is inside what)."""
    block = README.split("```text\n", 1)[1].split("```", 1)[0]
    paths: list[str] = []
    parents: list[tuple[int, str]] = []
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        name = line.split()[0]
        parents = [(level, path) for level, path in parents if level < indent]
        path = (parents[-1][1] if parents else "") + name
        paths.append(path)
        if name.endswith("/"):
            parents.append((indent, path))
    return paths


def test_the_layout_in_the_readme_is_the_tree() -> None:
    named = layout_paths()
    missing = [path for path in named if not (REPO / path).exists()]
    assert missing == []
    shown = set(named)
    for package in ("receipt_compaction", "pytest_receipt_compaction"):
        root = REPO / package
        subpackages = {
            f"{d.parent.relative_to(REPO)}/" for d in root.rglob("__init__.py") if d.parent != root
        }
        # Every subpackage down to the harness's own, and every module at the top of each package.
        expected = {p for p in subpackages if p.count("/") <= 3}
        expected |= {str(m.relative_to(REPO)) for m in root.glob("*.py") if m.name != "__init__.py"}
        assert expected - shown == set(), f"{package}: not in the README's layout"
