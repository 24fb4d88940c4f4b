"""Reading untrusted Chroma directories in forked children of a long-lived reader process.

Chroma's HNSW reader is native code that trusts its files: a damaged one segfaults whoever opens it, so a
delta is never opened in this process. Starting a fresh interpreter per delta made that isolation cost about
1.5 s a delta (up to 5 s under load), almost all of it the interpreter start and ``import chromadb``. So one
reader process per handler process (started on first use, reused across deltas and invocations) imports
chromadb once and then forks one child per delta: the child opens that one delta, writes its records as
JSON, and exits. Isolation is what it was:

- every delta is opened by a process of its own that ends after it; the reader itself never opens one, so a
  hostile delta cannot leave state behind for the next;
- a child that crashes (its signal), fails (the last line it wrote to stderr) or runs out of time (killed by
  its own ``alarm``) is a ``ChildFailed`` naming what was being opened;
- a reader that dies, hangs or answers nonsense is killed with everything it started, and replaced at the
  next read.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from receipt_compaction.chroma_store import ChildFailed

__all__ = ["ChildRead", "read_in_forked_child", "reader_pid", "shutdown_reader"]

STARTUP_SECONDS = 120.0
"""How long the reader may take to start (``import chromadb`` takes 1-5 s here)."""
REPLY_GRACE_SECONDS = 10.0
"""How long past a child's own alarm the reader may take to report it, before it is deemed hung."""

_SERVER = r"""
import gc, json, math, os, signal, sys, traceback
from receipt_compaction.chroma_store import get_all, open_chroma
# What the first PersistentClient of a process imports lazily (0.3 s): imported once here instead of per
# child. Importing starts no thread (checked: one task), so forking stays safe.
import chromadb.api.rust, chromadb.telemetry.product.posthog  # noqa: E401,F401

def child(request):
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the alarm kills the child, even inside native code
    signal.alarm(max(1, math.ceil(request["timeout"])))
    err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(err, 2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # stdout is the reader's channel to its parent: nothing else may write to it
    try:
        with open_chroma(request["path"]) as client:
            names = [collection.name for collection in client.list_collections()]
            if request["name"] not in names:
                found = {"missing": names}
            else:
                found = get_all(
                    client.get_collection(request["name"]), include=["embeddings", "documents", "metadatas"]
                )
                found["embeddings"] = [[float(x) for x in vector] for vector in found["embeddings"]]
        with open(request["out"], "w") as handle:
            json.dump(found, handle)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stderr.flush()
    os._exit(0)

def serve():
    gc.freeze()  # children do not touch (copy) the reader's objects when they collect garbage
    channel = sys.stdout
    channel.write(json.dumps({"ready": os.getpid()}) + "\n")
    channel.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(request)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            reply = {"signal": os.WTERMSIG(status)}
        else:
            reply = {"exit": os.WEXITSTATUS(status)}
        channel.write(json.dumps(reply) + "\n")
        channel.flush()

serve()
"""

_SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""numpy's BLAS starts a thread pool at import; a process that forks is safest with none."""


@dataclass(frozen=True)
class ChildRead:
    """What the child found: the collection's records, or the names of the collections it has instead."""

    records: dict[str, Any] | None
    missing: list[str] | None


class _ReaderGone(ChildFailed):
    """The reader process itself ended (killed from outside: it never opens a delta); worth one retry."""


class _Reader:
    """One reader process and the pipes to it."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.log = tempfile.TemporaryFile(prefix="delta-reader-")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env={**os.environ, **_SINGLE_THREADED},
            start_new_session=True,  # its own process group: a hang is killed with the child it forked
        )
        self.buffer = b""
        ready = self._reply(STARTUP_SECONDS, "starting the delta reader")
        if "ready" not in ready:
            raise ChildFailed(f"the delta reader started with an unexpected reply {ready!r}")

    @property
    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def ask(self, request: dict[str, Any], *, timeout: float, what: str) -> dict[str, Any]:
        stdin = self.process.stdin
        assert stdin is not None  # opened with PIPE
        try:
            stdin.write((json.dumps(request) + "\n").encode())
            stdin.flush()
        except OSError as error:
            raise _ReaderGone(f"opening {what}: the delta reader is gone ({error})") from None
        return self._reply(timeout + REPLY_GRACE_SECONDS, f"opening {what}")

    def _reply(self, timeout: float, doing: str) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None  # opened with PIPE
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(f"{doing} did not finish within {timeout:.0f} s")
            ready, _, _ = select.select([stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise _ReaderGone(f"{doing}: the delta reader exited ({self._last_log_line()})")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ChildFailed(f"{doing}: the delta reader answered {line[:200]!r}")
        return reply

    def _last_log_line(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit {self.process.poll()}"

    def stop(self) -> None:
        if self.owner == os.getpid():
            _kill_group(self.process)
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()
        self.log.close()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it may end between poll and kill
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


_lock = threading.Lock()
_reader: _Reader | None = None


def read_in_forked_child(path: Path, collection_name: str, *, timeout: float, what: str) -> ChildRead:
    """Every record of ``collection_name`` in the Chroma directory ``path``, read by a child forked for
    this one read: its crash, its error or its timeout is a ``ChildFailed`` naming ``what``."""
    with _lock, tempfile.TemporaryDirectory(prefix="delta-read-") as scratch:
        out, err = Path(scratch) / "records.json", Path(scratch) / "stderr.txt"
        request = {
            "path": str(path),
            "name": collection_name,
            "out": str(out),
            "err": str(err),
            "timeout": timeout,
        }
        reply = _ask(request, timeout=timeout, what=what)
        _check_exit(reply, err, timeout=timeout, what=what)
        found = json.loads(out.read_text())
    if isinstance(found, dict) and "missing" in found and "ids" not in found:
        return ChildRead(records=None, missing=[str(name) for name in found["missing"]])
    if not isinstance(found, dict):
        raise ChildFailed(f"opening {what}: the reader returned no records")
    return ChildRead(records=found, missing=None)


def _ask(request: dict[str, Any], *, timeout: float, what: str) -> dict[str, Any]:
    """The reader's reply; a reader found gone is replaced and asked once more, any other failure (a hang)
    discards it and is raised."""
    for attempt in (1, 2):
        try:
            return _current_reader().ask(request, timeout=timeout, what=what)
        except _ReaderGone:
            _discard_reader()
            if attempt == 2:
                raise
        except ChildFailed:
            _discard_reader()
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _check_exit(reply: dict[str, Any], err: Path, *, timeout: float, what: str) -> None:
    if "signal" in reply:
        number = int(reply["signal"])
        if number == signal.SIGALRM:
            raise ChildFailed(f"opening {what} did not finish within {math.ceil(timeout):.0f} s")
        raise ChildFailed(f"opening {what} crashed the process reading it ({_signal_name(number)})")
    code = reply.get("exit")
    if code != 0:
        text = err.read_text(errors="replace").strip() if err.exists() else ""
        last = (text.splitlines() or ["no output"])[-1]
        raise ChildFailed(f"opening {what} failed (exit {code}): {last}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _current_reader() -> _Reader:
    global _reader  # noqa: PLW0603 - one reader per process, by design
    if _reader is not None and not _reader.alive:
        _discard_reader()
    if _reader is None:
        _reader = _Reader()
    return _reader


def _discard_reader() -> None:
    global _reader  # noqa: PLW0603 - one reader per process, by design
    if _reader is not None:
        _reader.stop()
        _reader = None


def reader_pid() -> int | None:
    """The running reader's process id (None before the first read or after a discard): for tests."""
    with _lock:
        return _reader.process.pid if _reader is not None and _reader.alive else None


def shutdown_reader() -> None:
    """Stop the reader (it is started again on the next read). Also runs at interpreter exit."""
    with _lock:
        _discard_reader()


atexit.register(shutdown_reader)
