"""The console script comes with every install: with the base install alone (boto3, pydantic) it imports,
prints its help, and a command whose extra is missing exits 3 with one line naming what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from receipt_compaction.cli.output import OPTIONAL_MODULES, MissingExtra, requires_extra

# A fresh interpreter in which every module only an extra installs cannot be imported, whether or not it is
# installed here; the attempts are written to $BLOCKED_LOG, and the CLI runs on the remaining arguments.
BASE_INSTALL = """
import json, os, sys

BLOCKED = set(json.loads(os.environ["BLOCKED"]))
attempts = []

class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        return None

sys.meta_path.insert(0, Block())
try:
    from receipt_compaction.cli import main
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
finally:
    with open(os.environ["BLOCKED_LOG"], "w") as log:
        json.dump(sorted(set(attempts) | (BLOCKED & set(sys.modules))), log)
sys.exit(code)
"""


def base_install(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the CLI as the base install would; return the process and the optional modules it tried."""
    log = tmp_path / "attempts.json"
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name != "CHROMADB_BUCKET"
    }
    environ.update(BLOCKED=json.dumps(sorted(OPTIONAL_MODULES)), BLOCKED_LOG=str(log))
    result = subprocess.run(
        [sys.executable, "-c", BASE_INSTALL, *argv],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return result, json.loads(log.read_text())


def test_the_blocked_modules_are_every_optional_dependency_of_the_extras() -> None:
    assert {"chromadb", "numpy", "moto", "yaml", "jsonschema", "tqdm"} <= set(OPTIONAL_MODULES)
    assert set(OPTIONAL_MODULES.values()) == {"compaction", "moto", "testing", "cli"}


@pytest.mark.parametrize(
    ("argv", "shows"),
    [
        (["--help"], "{snapshot,run-local,scenarios,dynamodb-local,localstack}"),
        (["snapshot", "--help"], "{list,verify,pull,diff,rollback}"),
        (["snapshot", "list", "--help"], "--region REGION"),
        (["run-local", "--help"], "default: us-east-1"),
        (["scenarios", "lint", "--help"], "paths"),
    ],
)
def test_help_needs_only_the_base_install(tmp_path: Path, argv: list[str], shows: str) -> None:
    result, attempts = base_install(tmp_path, *argv)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("usage: receipt-compaction")
    assert shows in " ".join(result.stdout.split())
    assert attempts == []


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["snapshot", "list", "words"],
            "receipt-compaction: snapshot list needs chromadb: pip install 'receipt-compaction[compaction]'",
        ),
        (
            ["snapshot", "verify", "words", "--bucket", "b", "--region", "eu-west-1"],
            "receipt-compaction: snapshot verify needs chromadb: pip install 'receipt-compaction[compaction]'",
        ),
        (
            ["snapshot", "pull", "lines", "copy"],
            "receipt-compaction: snapshot pull needs chromadb: pip install 'receipt-compaction[compaction]'",
        ),
        (
            ["--json", "snapshot", "diff", "words", "v1", "v2"],
            "receipt-compaction: snapshot diff needs chromadb: pip install 'receipt-compaction[compaction]'",
        ),
        (["run-local"], "receipt-compaction: run-local needs moto: pip install 'receipt-compaction[cli]'"),
    ],
)
def test_a_command_without_its_extra_exits_3_with_one_line(
    tmp_path: Path, argv: list[str], line: str
) -> None:
    result, attempts = base_install(tmp_path, *argv)
    assert (result.returncode, result.stdout, result.stderr) == (3, "", line + "\n")
    assert attempts
    assert not (tmp_path / "copy").exists()


def test_scenarios_lint_without_its_extra_exits_3_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.scenario.yaml").write_text("name: a\nstages: []\n")
    result, _ = base_install(tmp_path, "scenarios", "lint", str(tmp_path))
    assert (result.returncode, result.stdout) == (3, "")
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("receipt-compaction: scenarios ")
    assert "pip install 'receipt-compaction[" in result.stderr


def test_usage_errors_exit_2_with_the_base_install(tmp_path: Path) -> None:
    result, attempts = base_install(tmp_path, "snapshot", "frobnicate")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr
    assert attempts == []


def test_only_a_missing_optional_module_is_a_missing_extra() -> None:
    expected = r"^demo needs tqdm: pip install 'receipt-compaction\[cli\]'$"
    with pytest.raises(MissingExtra, match=expected), requires_extra("demo", "cli"):
        raise ModuleNotFoundError("No module named 'tqdm.auto'", name="tqdm.auto")
    # Anything else missing is a broken install or a bug: it keeps its traceback.
    with (
        pytest.raises(ModuleNotFoundError, match=r"receipt_compaction\.no_such_module"),
        requires_extra("demo", "cli"),
    ):
        import receipt_compaction.no_such_module  # type: ignore[import-not-found]  # noqa: F401, PLC0415
