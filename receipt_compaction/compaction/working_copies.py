"""Private working copies named by their owner, and the removal of those whose owner died.

A cycle compacts a private copy of the latest version in ``{work_root}/working-{collection}-p{pid}-
s{start}-h{host}-{random}/``: the owner is this process (its pid and start time, so a reused pid is not
mistaken for it) on this host. A process that dies mid-cycle (a Lambda timeout, an out-of-memory kill, a
segfault in Chroma) leaves its copy behind, and on Lambda ``/tmp`` survives into the next invocations of the
same environment. So every cycle first removes the copies that are older than the lease and whose owner is
not a live process here: nothing can still be compacting them, because a live compactor holds its lease, and
a lease outlives its holder by at most its length. A copy made by another host (a work root on a shared
disk) cannot be checked for liveness, so it goes only when it is of the collection whose lease this cycle
holds: its owner's lease has ended, so it may no longer publish.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["WorkingCopyOwner", "make_working_dir", "remove_stale_working_dirs"]

logger = logging.getLogger(__name__)

_NAME = re.compile(
    r"working-(?P<collection>[a-z]+)-p(?P<pid>\d+)-s(?P<start>\d+)-h(?P<host>[A-Za-z0-9-]+)-[^-]+"
)


@dataclass(frozen=True)
class WorkingCopyOwner:
    """A process on a host: its pid and start time (clock ticks after boot; 0 where unknown)."""

    host: str
    pid: int
    start: int

    @classmethod
    def this_process(cls) -> WorkingCopyOwner:
        return cls(_host(), os.getpid(), _process_start(os.getpid()) or 0)

    def is_alive_here(self) -> bool:
        """Whether this owner is a running process on this host (the same one, not a reuse of its pid)."""
        if self.host != _host():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process, but a live one
            pass
        started = _process_start(self.pid)
        return started is None or self.start in {0, started}


def make_working_dir(work_root: Path, collection: str) -> Path:
    """A new, empty directory for one cycle's working copy of ``collection``, named by this process."""
    owner = WorkingCopyOwner.this_process()
    work_root.mkdir(parents=True, exist_ok=True)
    prefix = f"working-{collection}-p{owner.pid}-s{owner.start}-h{owner.host}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work_root))


def remove_stale_working_dirs(
    work_root: Path, *, collection: str, older_than: float, now: float | None = None
) -> list[Path]:
    """Remove the working directories left by dead owners (see the module's docstring); returns them."""
    if not work_root.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for path in sorted(work_root.iterdir()):
        if _is_stale(path, collection=collection, older_than=older_than, now=now):
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
    if removed:
        logger.warning(
            "removed %d working copies left by compactors that died: %s",
            len(removed),
            ", ".join(path.name for path in removed),
        )
    return removed


def _is_stale(path: Path, *, collection: str, older_than: float, now: float) -> bool:
    found = _NAME.fullmatch(path.name)
    if found is None or not path.is_dir():
        return False  # not one of ours: never touched
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:  # its owner finished meanwhile
        return False
    if age <= older_than:
        return False
    owner = WorkingCopyOwner(found["host"], int(found["pid"]), int(found["start"]))
    if owner.host == _host():
        return not owner.is_alive_here()
    return found["collection"] == collection


@cache
def _host() -> str:
    """This host's name as it appears in directory names (letters, digits and hyphens)."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname()).strip("-")[:40] or "localhost"


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (Linux ``/proc``); None where unknown."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    return None
