"""The operator CLI: inspect the snapshots in S3, run the pipeline locally, lint scenario files.

Exit codes: 0 success; 1 a check found a problem (``snapshot verify``, ``scenarios lint``); 2 wrong usage;
3 the command could not run (no endpoint, bucket, region, version, setting or extra). Errors are one line on
stderr; any other exception is a bug and surfaces as Python's traceback. Every AWS call goes through boto3's
standard settings (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``AWS_REGION``). This module and the parser import
only the base install (boto3, pydantic): each command imports what it needs when it runs, and a missing extra
is one line naming it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from receipt_compaction.cli.lanes import add_lane_commands
from receipt_compaction.cli.lint import add_lint_command
from receipt_compaction.cli.local import add_local_command
from receipt_compaction.cli.output import EXIT_ERROR, CliError, Output
from receipt_compaction.cli.snapshots import add_snapshot_commands, open_store
from receipt_compaction.settings import SettingsError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code. Wrong usage exits 2 (``SystemExit`` from argparse)."""
    arguments = _parser().parse_args(argv)
    output = Output(json_mode=arguments.json)
    try:
        store = open_store(arguments) if getattr(arguments, "needs_store", True) else None
        code: int = arguments.run(arguments, store, output)
    except CliError as error:
        return _fail(str(error), error.exit_code)
    except (SettingsError, ClientError, BotoCoreError) as error:  # no endpoint, credentials or setting
        return _fail(f"{type(error).__name__}: {error}", EXIT_ERROR)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="receipt-compaction", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_snapshot_commands(subparsers)
    add_local_command(subparsers)
    add_lint_command(subparsers)
    add_lane_commands(subparsers)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"receipt-compaction: {message}", file=sys.stderr)
    return code
