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
LOCALSTACK_IMAGE = "localstack/localstack:4.0"
"""A tag that runs without an auth token; newer images need LOCALSTACK_AUTH_TOKEN (passed on if set)."""


class BackendUnavailable(RuntimeError):
    """The backend cannot start here; the message is one actionable line."""


@dataclass(frozen=True)
class Backend:
    """A running endpoint: where it is and the credentials to use with it.

    ``endpoint_url`` None means real AWS: boto3's default endpoints and credential chain.
    """

    name: str
    endpoint_url: str | None
    region: str
    access_key_id: str | None = "testing"
    secret_access_key: str | None = "testing"  # emulator credentials, never real ones

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url is not None:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.access_key_id is not None:
            kwargs["aws_access_key_id"] = self.access_key_id
            kwargs["aws_secret_access_key"] = self.secret_access_key
        return kwargs

    def environ(self) -> dict[str, str]:
        """The variables that point boto3 (and so the handlers) at this backend."""
        environ = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url is not None:
            environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.access_key_id is not None and self.secret_access_key is not None:
            environ["AWS_ACCESS_KEY_ID"] = self.access_key_id
            environ["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        return environ


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


class LocalStackExecutor(_ContextManaged):
    """LocalStack in a container started with testcontainers, when a Docker engine answers."""

    def __init__(self, *, region: str, image: str = LOCALSTACK_IMAGE, start_timeout: float = 120.0) -> None:
        self.region = region
        self.image = image
        self.start_timeout = start_timeout
        self._container: Any = None

    def start(self) -> Backend:
        try:
            import docker  # noqa: PLC0415 - optional dependency
            from testcontainers.localstack import LocalStackContainer  # noqa: PLC0415

            docker.from_env(timeout=5).ping()
        except ImportError as error:
            raise BackendUnavailable(
                f"backend 'localstack' needs testcontainers ({error}): "
                "`pip install 'receipt-compaction[localstack]'`, or run LocalStack yourself and pass "
                "--receipt-compaction-endpoint=http://127.0.0.1:4566"
            ) from None
        except Exception as error:  # docker raises several kinds when no engine answers
            raise BackendUnavailable(
                "backend 'localstack' needs a Docker engine and none answered "
                f"({type(error).__name__}): start Docker, or run LocalStack elsewhere and pass "
                "--receipt-compaction-endpoint=URL, or use --receipt-compaction-backend=moto"
            ) from None
        container = LocalStackContainer(image=self.image, region_name=self.region)
        container.with_env("SERVICES", "dynamodb,dynamodbstreams,sqs,s3")
        if token := os.environ.get("LOCALSTACK_AUTH_TOKEN"):
            container.with_env("LOCALSTACK_AUTH_TOKEN", token)
        self._container = container.start()
        return Backend(
            name="localstack",
            endpoint_url=container.get_url(),
            region=self.region,
            access_key_id="test",
            secret_access_key="test",
        )

    def stop(self) -> None:
        if self._container is not None:
            self._container.stop()
            self._container = None


class AwsExecutor(_ContextManaged):
    """Real AWS (opt-in): boto3's default credential chain; resources get unique names and are removed."""

    def __init__(self, *, region: str) -> None:
        self.region = region

    def start(self) -> Backend:
        import boto3  # noqa: PLC0415 - boto3 is a core dependency; imported here to keep this module light

        credentials = boto3.session.Session(region_name=self.region).get_credentials()
        if credentials is None:
            raise BackendUnavailable(
                "backend 'aws' found no AWS credentials in boto3's default chain: set a profile or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use --receipt-compaction-backend=moto"
            )
        return Backend(
            name="aws", endpoint_url=None, region=self.region, access_key_id=None, secret_access_key=None
        )

    def stop(self) -> None:
        """Nothing to stop; every fixture removes the resources it created."""


def make_executor(*, backend: str, endpoint: str | None, region: str, start_timeout: float) -> Executor:
    if endpoint:
        return ExternalEndpointExecutor(
            endpoint_url=endpoint, region=region, timeout=start_timeout, name=backend
        )
    if backend == "moto":
        return MotoServerExecutor(region=region, start_timeout=start_timeout)
    if backend == "localstack":
        return LocalStackExecutor(region=region, start_timeout=max(start_timeout, 60.0))
    if backend == "aws":
        return AwsExecutor(region=region)
    raise BackendUnavailable(f"unknown backend {backend!r}: use moto, localstack or aws")
