"""The operator CLI, ``receipt-compaction``.

Exit codes: 0 success; 1 a check found a problem (``snapshot verify``, ``scenarios lint``); 2 wrong usage;
3 the command could not run (no endpoint, bucket, version or setting). Errors are one line on stderr. Every
AWS call goes through boto3's standard settings (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``AWS_REGION``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from receipt_compaction.aws import AwsClients
from receipt_compaction.cli.lint import add_lint_command
from receipt_compaction.cli.local import add_local_command
from receipt_compaction.cli.output import EXIT_CHECK_FAILED, EXIT_ERROR, CommandError, Output
from receipt_compaction.cli.snapshots import add_snapshot_commands
from receipt_compaction.settings import SettingsError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from receipt_compaction.snapshot import SnapshotStore

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    output = Output(json_mode=arguments.json)
    from receipt_compaction.snapshot import SnapshotError, SnapshotIntegrityError  # noqa: PLC0415 - heavy

    try:
        store = _store(arguments) if getattr(arguments, "needs_store", True) else None
        code: int = arguments.run(arguments, store, output)
    except SnapshotIntegrityError as error:  # a stored file does not match its manifest
        return _fail(str(error), EXIT_CHECK_FAILED)
    except (CommandError, SnapshotError) as error:
        return _fail(str(error), EXIT_ERROR)
    except (SettingsError, ClientError, BotoCoreError) as error:
        return _fail(f"{type(error).__name__}: {error}", EXIT_ERROR)
    except RuntimeError as error:  # verify_snapshot: the directory does not open, or holds the wrong count
        return _fail(str(error), EXIT_CHECK_FAILED)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="receipt-compaction", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_snapshot_commands(subparsers)
    add_local_command(subparsers)
    add_lint_command(subparsers)
    return parser


def _store(arguments: argparse.Namespace) -> SnapshotStore:
    from receipt_compaction.snapshot import SnapshotStore  # noqa: PLC0415 - chromadb only for these commands

    bucket = arguments.bucket or os.environ.get("CHROMADB_BUCKET")
    if not bucket:
        raise CommandError("no bucket: pass --bucket or set CHROMADB_BUCKET")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return SnapshotStore(AwsClients.connect(region_name=region).s3, bucket, arguments.collection)


def _fail(message: str, code: int) -> int:
    print(f"receipt-compaction: {message}", file=sys.stderr)
    return code
