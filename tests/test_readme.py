"""The README's option and fixture tables stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_receipt_compaction import plugin
from pytest_receipt_compaction.options import OPTIONS

README = (Path(__file__).parent.parent / "README.md").read_text()


def table_rows(heading: str) -> list[list[str]]:
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_readme_starts_with_the_two_commands() -> None:
    block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    assert block.splitlines() == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]'",
        "pytest tests",
    ]
    assert "pytest tests" in Path(__file__).parent.parent.joinpath(".ci", "run").read_text()


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
