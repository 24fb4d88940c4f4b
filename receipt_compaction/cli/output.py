"""How the CLI speaks: text for people, ``--json`` for scripts, progress bars on a terminal only; and the
errors a command raises for the user (each one line, each with its exit code)."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "CheckFailed",
    "CliError",
    "CommandError",
    "MissingExtra",
    "Output",
    "progress",
    "requires_extra",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
"""A check ran and found a problem (a snapshot that does not verify, a scenario that does not lint)."""
EXIT_USAGE = 2
"""Wrong usage: argparse prints the usage line and exits with it."""
EXIT_ERROR = 3
"""The command could not run (no such bucket or version, no endpoint, a missing setting or extra)."""

OPTIONAL_MODULES = {
    "chromadb": "compaction",
    "numpy": "compaction",
    "moto": "moto",
    "flask": "moto",
    "flask_cors": "moto",
    "yaml": "testing",
    "jsonschema": "testing",
    "tqdm": "cli",
}
"""The top-level modules that only an extra installs, and that extra."""


class CliError(Exception):
    """An outcome the CLI reports as one line on stderr with ``exit_code``; any other exception is a bug."""

    exit_code: ClassVar[int] = EXIT_ERROR


class CommandError(CliError):
    """The command could not run. One line for the user: what went wrong and what to do."""


class MissingExtra(CommandError):
    """The command imports a module that only an extra installs, and it is not installed."""


class CheckFailed(CliError):
    """A check ran and found a problem (a snapshot that does not verify)."""

    exit_code = EXIT_CHECK_FAILED


@contextmanager
def requires_extra(command: str, extra: str) -> Iterator[None]:
    """Turn the import of a missing optional module inside the block into :class:`MissingExtra`.

    ``extra`` is the one to install for the whole ``command``. A missing module that no extra provides is a
    broken install or a bug, and is raised unchanged."""
    try:
        yield
    except ModuleNotFoundError as error:
        module = (error.name or "").partition(".")[0]
        if module not in OPTIONAL_MODULES:
            raise
        raise MissingExtra(f"{command} needs {module}: pip install 'receipt-compaction[{extra}]'") from None


@dataclass
class Output:
    json_mode: bool
    stream: TextIO | None = None
    """Where results go; None means whatever ``sys.stdout`` is when they are written."""

    def result(self, data: Any, *, text: str) -> None:
        self._write(json.dumps(data, indent=1, default=str) if self.json_mode else text)

    def table(self, rows: Sequence[dict[str, Any]], *, title: str) -> None:
        if self.json_mode:
            self._write(json.dumps(rows, indent=1, default=str))
            return
        lines = [title]
        if rows:
            columns = list(rows[0])
            widths = {c: max(len(c), *(len(_cell(row[c])) for row in rows)) for c in columns}
            lines.append("  " + "  ".join(c.ljust(widths[c]) for c in columns).rstrip())
            lines += [
                "  " + "  ".join(_cell(row[c]).ljust(widths[c]) for c in columns).rstrip() for row in rows
            ]
        else:
            lines.append("  (none)")
        self._write("\n".join(lines))

    def _write(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout)


def _cell(value: Any) -> str:
    if value is True:
        return "*"
    if value is False or value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else str(value)


class _NoBar:
    def update(self, amount: int) -> None:
        del amount


@contextmanager
def progress(output: Output, *, total: int | None, description: str, unit: str = "B") -> Iterator[Any]:
    """A tqdm bar on stderr when it is a terminal, the output is not JSON and tqdm (the ``cli`` extra) is
    installed; otherwise nothing.

    ``total=None`` counts without an end (handler invocations of a drain); bytes are shown scaled."""
    if output.json_mode or not sys.stderr.isatty():
        yield _NoBar()
        return
    try:
        from tqdm import tqdm  # noqa: PLC0415 - only for interactive runs
    except ModuleNotFoundError:  # a bar is a nicety: the command works without one
        yield _NoBar()
        return

    with tqdm(total=total, desc=description, unit=unit, unit_scale=unit == "B", file=sys.stderr) as bar:
        yield bar
