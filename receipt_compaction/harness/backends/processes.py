"""Server processes the backends start: a free port, a start that waits until the server answers, and a
stop that ends the process with its children (by process group), so nothing is left running."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING

from receipt_compaction.harness.backends.base import BackendUnavailable
from receipt_compaction.harness.backends.external import probe

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = ["ServerProcess", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """One server started in its own process group, with its output in ``log``."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        url: str,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.url = url
        self.log = log
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float, hint: str) -> None:
        """Start and wait until ``url`` answers HTTP; otherwise stop it and raise ``BackendUnavailable``
        with the last line of its log and ``hint``."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stop() ends its children too
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code, last = self._process.returncode, self._last_log_line()
                self.stop()
                raise BackendUnavailable(f"{self.name} exited with code {code} ({last}): {hint}")
            if probe(self.url, timeout=1.0) is None:
                return
            time.sleep(0.2)
        self.stop()
        last = self._last_log_line()
        raise BackendUnavailable(
            f"{self.name} did not answer at {self.url} within {timeout:.0f} s ({last}): {hint}"
        )

    def stop(self) -> None:
        """End the process group: SIGTERM, then SIGKILL after 10 s."""
        process, self._process = self._process, None
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # children that outlived their parent

    def _last_log_line(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:200] if lines else "no output"
