"""How the CLI speaks: text for people, ``--json`` for scripts, progress bars on a terminal only."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["EXIT_CHECK_FAILED", "EXIT_ERROR", "EXIT_OK", "CommandError", "Output", "progress"]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
"""A check ran and found a problem (a snapshot that does not verify, a scenario that does not lint)."""
EXIT_ERROR = 3
"""The command could not run (no such bucket or version, no endpoint, a missing setting)."""


class CommandError(RuntimeError):
    """One line for the user: what went wrong and what to do."""


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
    """A tqdm bar on stderr when it is a terminal and the output is not JSON; otherwise nothing.

    ``total=None`` counts without an end (handler invocations of a drain); bytes are shown scaled."""
    if output.json_mode or not sys.stderr.isatty():
        yield _NoBar()
        return
    from tqdm import tqdm  # noqa: PLC0415 - only for interactive runs

    with tqdm(total=total, desc=description, unit=unit, unit_scale=unit == "B", file=sys.stderr) as bar:
        yield bar
