"""A moto server in a process of its own: its memory can be read, and its work does not compete with the
measured code for the interpreter lock (as S3 and DynamoDB never do in production)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from receipt_compaction.harness.backends import ExternalEndpointExecutor

if TYPE_CHECKING:
    from types import TracebackType

    from receipt_compaction.harness.backends import Backend

__all__ = ["MotoProcess", "peak_rss_mib", "rss_mib"]


class MotoProcess:
    def __init__(self, *, region: str = "us-east-1", start_timeout: float = 30.0) -> None:
        self.region = region
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Backend:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return ExternalEndpointExecutor(
                endpoint_url=f"http://127.0.0.1:{port}",
                region=self.region,
                timeout=self.start_timeout,
                name="moto",
            ).start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def rss_mib(self) -> float:
        assert self.process is not None
        return rss_mib(self.process.pid)

    def peak_rss_mib(self) -> float:
        assert self.process is not None
        return peak_rss_mib(self.process.pid)


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmHWM") / 1024


def _status_kib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    raise LookupError(f"/proc/{pid}/status has no {field}")
