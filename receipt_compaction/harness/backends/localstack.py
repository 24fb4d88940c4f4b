"""LocalStack in a container started with testcontainers, when a Docker engine answers."""

from __future__ import annotations

import os
from typing import Any

from receipt_compaction.harness.backends.base import Backend, BackendUnavailable, ContextManagedExecutor

__all__ = ["LOCALSTACK_IMAGE", "LocalStackContainerExecutor"]

LOCALSTACK_IMAGE = "localstack/localstack:4.0"
"""A tag that runs without an auth token; newer images need LOCALSTACK_AUTH_TOKEN (passed on if set)."""


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
