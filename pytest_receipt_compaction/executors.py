"""Backends that serve the AWS APIs the pipeline uses, behind one small interface.

``MotoServerExecutor`` runs moto's ``ThreadedMotoServer`` in this process on 127.0.0.1 and a free port;
``ExternalEndpointExecutor`` checks that an endpoint someone else runs (LocalStack, a moto server) answers.
Both are plain classes usable with ``with``; nothing here imports pytest. A backend that cannot start raises
``BackendUnavailable`` with one line saying what was tried and how to fix it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Executor",
    "ExternalEndpointExecutor",
    "MotoServerExecutor",
    "make_executor",
]

LOCALSTACK_HINT = "start it with `docker compose -f localstack/docker-compose.yml up -d`"


class BackendUnavailable(RuntimeError):
    """The backend cannot start here; the message is one actionable line."""


@dataclass(frozen=True)
class Backend:
    """A running endpoint: where it is and the credentials to use with it."""

    name: str
    endpoint_url: str
    region: str
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }

    def environ(self) -> dict[str, str]:
        """The variables that point boto3 (and so the handlers) at this backend."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


class Executor(Protocol):
    def start(self) -> Backend: ...

    def stop(self) -> None: ...


class _ContextManaged:
    def start(self) -> Backend:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class MotoServerExecutor(_ContextManaged):
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


class ExternalEndpointExecutor(_ContextManaged):
    """An endpoint that something else runs; ``start`` only checks that it answers."""

    def __init__(self, *, endpoint_url: str, region: str, timeout: float = 10.0, name: str = "external"):
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self.timeout = timeout
        self.name = name

    def start(self) -> Backend:
        deadline = time.monotonic() + self.timeout
        error: Exception | None = None
        while time.monotonic() < deadline:
            error = _probe(self.endpoint_url, timeout=max(0.1, min(2.0, deadline - time.monotonic())))
            if error is None:
                return Backend(
                    name=self.name,
                    endpoint_url=self.endpoint_url,
                    region=self.region,
                    access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                    secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                )
            time.sleep(0.2)
        raise BackendUnavailable(
            f"no AWS endpoint answered at {self.endpoint_url} within {self.timeout:.0f} s ({error}): "
            f"{LOCALSTACK_HINT}, or drop --receipt-compaction-endpoint to use the embedded moto server"
        )

    def stop(self) -> None:
        """Nothing to stop: the endpoint belongs to whoever started it."""


def _probe(url: str, *, timeout: float) -> Exception | None:
    """None when anything answers HTTP at ``url`` (an error status still proves it is up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as error:
        return error


def make_executor(*, backend: str, endpoint: str | None, region: str, start_timeout: float) -> Executor:
    if endpoint:
        return ExternalEndpointExecutor(endpoint_url=endpoint, region=region, timeout=start_timeout)
    if backend == "moto":
        return MotoServerExecutor(region=region, start_timeout=start_timeout)
    raise BackendUnavailable(f"unknown backend {backend!r}: use --receipt-compaction-backend=moto")
