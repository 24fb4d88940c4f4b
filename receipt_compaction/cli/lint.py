"""``receipt-compaction scenarios lint PATH...``: check scenario files (file:line for every problem), with the
stage actions installed packages add; ``scenarios schema``: print the scenario JSON schema."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from receipt_compaction.cli.output import EXIT_CHECK_FAILED, EXIT_OK, CommandError, Output

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from receipt_compaction.harness.scenarios import StageAction

__all__ = ["add_lint_command"]


def add_lint_command(subparsers: Any) -> None:
    scenarios = subparsers.add_parser("scenarios", help="work with *.scenario.yaml files")
    commands = scenarios.add_subparsers(dest="scenarios_command", required=True)
    lint = commands.add_parser(
        "lint",
        help="validate scenario files (directories are searched recursively) with the built-in stage actions "
        "and those installed packages add",
    )
    lint.add_argument("paths", nargs="+", type=Path)
    lint.set_defaults(run=run_lint, needs_store=False)
    schema = commands.add_parser(
        "schema",
        help="print the scenario JSON schema (for editors: `# yaml-language-server: $schema=FILE`)",
    )
    schema.add_argument(
        "--builtin-only",
        action="store_true",
        help="only the built-in stage actions: exactly the schema shipped in the package",
    )
    schema.set_defaults(run=run_schema, needs_store=False)


@contextmanager
def _engine() -> Iterator[None]:
    """Around the import of the scenario engine: a missing extra is one line (exit 3)."""
    try:
        yield
    except ImportError as error:
        raise CommandError(
            f"scenarios commands need the testing extra ({error}): pip install 'receipt-compaction[cli]'"
        ) from None


def _known_actions() -> dict[str, StageAction]:
    """Built-in actions and those of installed packages; a broken package or a clash is one line (exit 3)."""
    with _engine():
        from receipt_compaction.harness.scenarios import StageActionError, known_actions  # noqa: PLC0415
    try:
        return known_actions()
    except StageActionError as error:
        raise CommandError(str(error)) from None


def run_lint(arguments: argparse.Namespace, store: None, output: Output) -> int:
    del store
    with _engine():
        from receipt_compaction.harness.scenarios import (  # noqa: PLC0415 - needs the testing extra
            ScenarioSyntaxError,
            load_scenario_yaml,
            validate_scenario,
        )
    files = _scenario_files(arguments.paths)
    actions = _known_actions()
    problems: list[dict[str, Any]] = []
    deprecations: list[dict[str, Any]] = []
    for path in files:
        try:
            scenario = validate_scenario(path, load_scenario_yaml(path), actions)
        except ScenarioSyntaxError as error:
            problems.append({"file": str(error.path), "line": error.line, "problem": error.problem})
            continue
        deprecations += [
            {"file": str(d.path), "line": d.line, "problem": d.problem} for d in scenario.deprecations
        ]
    summary = f"{len(files)} file(s), {len(problems)} invalid"
    text = "\n".join(
        [f"{p['file']}:{p['line']}: {p['problem']}" for p in problems]
        + [f"{d['file']}:{d['line']}: warning: {d['problem']}" for d in deprecations]
        + [summary + (f", {len(deprecations)} deprecated spelling(s)" if deprecations else "")]
    )
    output.result({"files": len(files), "invalid": problems, "deprecated": deprecations}, text=text)
    return EXIT_CHECK_FAILED if problems else EXIT_OK


def run_schema(arguments: argparse.Namespace, store: None, output: Output) -> int:
    """The schema is JSON either way; ``--json`` changes nothing here."""
    del store, output
    with _engine():
        from receipt_compaction.harness.scenarios import (  # noqa: PLC0415 - needs the testing extra
            BUILTIN_ACTIONS,
            render_schema,
            scenario_schema,
        )
    actions = BUILTIN_ACTIONS if arguments.builtin_only else tuple(_known_actions().values())
    sys.stdout.write(render_schema(scenario_schema(actions)))
    return EXIT_OK


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
