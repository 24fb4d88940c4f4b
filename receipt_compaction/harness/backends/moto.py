"""moto"s ``ThreadedMotoServer`` in this process, on 127.0.0.1 and a free port."""

from __future__ import annotations

import logging
import threading
from typing import Any

from receipt_compaction.harness.backends.base import Backend, BackendUnavailable, ContextManagedExecutor

__all__ = ["MotoServerExecutor"]


class MotoServerExecutor(ContextManagedExecutor):
    """moto's threaded server on ``host`` and a free port (port 0), started and stopped explicitly."""

    def __init__(self, *, region: str, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 20.0):
        self.region = region
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self._server: Any = None

    def start(self) -> Backend:
        try:
            from moto.server import ThreadedMotoServer  # noqa: PLC0415 - optional dependency
        except ImportError as error:
            raise BackendUnavailable(
                f"the embedded moto backend needs moto's server ({error}): install it with "
                "`pip install 'receipt-compaction[moto]'`, or pass --receipt-compaction-endpoint=URL"
            ) from None
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        # ThreadedMotoServer.start() waits without a timeout for a server that may never bind; wait here.
        starter = threading.Thread(target=server.start, name="moto-server-start", daemon=True)
        starter.start()
        starter.join(self.start_timeout)
        if starter.is_alive():
            raise BackendUnavailable(
                f"moto server on {self.host}:{self.port} did not start within {self.start_timeout:.0f} s: "
                "check that the address is free, or pass --receipt-compaction-endpoint=URL"
            )
        self._server = server
        host, port = server.get_host_and_port()
        return Backend(name="moto", endpoint_url=f"http://{host}:{port}", region=self.region)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
