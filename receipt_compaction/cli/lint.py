"""``receipt-compaction scenarios lint PATH...``: check scenario files against the schema, with file:line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from receipt_compaction.cli.output import EXIT_CHECK_FAILED, EXIT_OK, CommandError, Output

if TYPE_CHECKING:
    import argparse

__all__ = ["add_lint_command"]


def add_lint_command(subparsers: Any) -> None:
    scenarios = subparsers.add_parser("scenarios", help="work with *.scenario.yaml files")
    commands = scenarios.add_subparsers(dest="scenarios_command", required=True)
    lint = commands.add_parser("lint", help="validate scenario files (directories are searched recursively)")
    lint.add_argument("paths", nargs="+", type=Path)
    lint.set_defaults(run=run_lint, needs_store=False)


def run_lint(arguments: argparse.Namespace, store: None, output: Output) -> int:
    del store
    try:
        from receipt_compaction.harness.scenarios import (  # noqa: PLC0415 - needs the testing extra
            BUILTIN_ACTIONS,
            ScenarioSyntaxError,
            load_scenario_yaml,
            validate_scenario,
        )
    except ImportError as error:
        raise CommandError(
            f"scenarios lint needs the testing extra ({error}): pip install 'receipt-compaction[cli]'"
        ) from None
    files = _scenario_files(arguments.paths)
    actions = {action.name: action for action in BUILTIN_ACTIONS}
    problems = []
    for path in files:
        try:
            validate_scenario(path, load_scenario_yaml(path), actions)
        except ScenarioSyntaxError as error:
            problems.append({"file": str(error.path), "line": error.line, "problem": error.problem})
    text = "\n".join(
        [f"{p['file']}:{p['line']}: {p['problem']}" for p in problems]
        + [f"{len(files)} file(s), {len(problems)} invalid"]
    )
    output.result({"files": len(files), "invalid": problems}, text=text)
    return EXIT_CHECK_FAILED if problems else EXIT_OK


def _scenario_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.rglob("*.scenario.yaml"))
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{path} does not exist")
    return files
