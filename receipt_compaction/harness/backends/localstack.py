"""LocalStack: in a container started with testcontainers when a Docker engine answers, else on the host
from a runtime ``receipt-compaction localstack install`` prepared (``localstack_host``), else one line."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from receipt_compaction.harness.backends.base import Backend, BackendUnavailable, ContextManagedExecutor

if TYPE_CHECKING:
    from receipt_compaction.harness.backends.localstack_host import StreamProvider

__all__ = ["LOCALSTACK_IMAGE", "LocalStackContainerExecutor", "LocalStackExecutor", "docker_engine_error"]

LOCALSTACK_IMAGE = "localstack/localstack:4.0"
"""A tag that runs without an auth token; newer images need LOCALSTACK_AUTH_TOKEN (passed on if set)."""


def _container_class() -> Any:
    """testcontainers' LocalStack container: ``testcontainers.community`` in recent releases (the old module
    warns that it is deprecated), ``testcontainers.localstack`` before."""
    try:
        from testcontainers.community.localstack import LocalStackContainer  # noqa: PLC0415
    except ImportError:
        from testcontainers.localstack import LocalStackContainer  # noqa: PLC0415
    return LocalStackContainer


def docker_engine_error() -> str | None:
    """None when testcontainers is installed and a Docker engine answers; otherwise why not."""
    try:
        import docker  # noqa: PLC0415 - optional dependency

        _container_class()
    except ImportError as error:
        return f"testcontainers is not installed ({error})"
    try:
        docker.from_env(timeout=5).ping()
    except Exception as error:  # docker raises several kinds when no engine answers
        return f"no Docker engine answered ({type(error).__name__})"
    return None


class LocalStackExecutor(ContextManagedExecutor):
    """The first way LocalStack can run here: a container, else the prepared host runtime."""

    def __init__(
        self, *, region: str, stream_provider: str = "default", start_timeout: float = 120.0
    ) -> None:
        self.region = region
        self.stream_provider: StreamProvider = "v2" if stream_provider == "v2" else "default"
        self.start_timeout = start_timeout
        self._chosen: ContextManagedExecutor | None = None

    def start(self) -> Backend:
        from receipt_compaction.harness.backends.localstack_host import (  # noqa: PLC0415 - a lane of its own
            LocalStackHostExecutor,
        )

        why_not_docker = docker_engine_error()
        if why_not_docker is None:
            self._chosen = LocalStackContainerExecutor(region=self.region, start_timeout=self.start_timeout)
            return self._chosen.start()
        self._chosen = LocalStackHostExecutor(
            region=self.region,
            stream_provider=self.stream_provider,
            start_timeout=self.start_timeout,
        )
        try:
            return self._chosen.start()
        except BackendUnavailable as error:
            raise BackendUnavailable(
                f"backend 'localstack': {why_not_docker}, and on the host: {error}"
            ) from None

    def stop(self) -> None:
        if self._chosen is not None:
            self._chosen.stop()
            self._chosen = None


class LocalStackContainerExecutor(ContextManagedExecutor):
    """LocalStack in a container started with testcontainers, when a Docker engine answers."""

    def __init__(self, *, region: str, image: str = LOCALSTACK_IMAGE, start_timeout: float = 120.0) -> None:
        self.region = region
        self.image = image
        self.start_timeout = start_timeout
        self._container: Any = None

    def start(self) -> Backend:
        try:
            import docker  # noqa: PLC0415 - optional dependency

            LocalStackContainer = _container_class()

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
