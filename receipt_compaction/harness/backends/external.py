"""An endpoint that something else runs (LocalStack, a moto server): ``start`` only checks that it answers."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

from receipt_compaction.harness.backends.base import Backend, BackendUnavailable, ContextManagedExecutor

__all__ = ["LOCALSTACK_HINT", "ExternalEndpointExecutor", "probe"]

LOCALSTACK_HINT = "start it with `docker compose -f localstack/docker-compose.yml up -d`"


class ExternalEndpointExecutor(ContextManagedExecutor):
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
            error = probe(self.endpoint_url, timeout=max(0.1, min(2.0, deadline - time.monotonic())))
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


def probe(url: str, *, timeout: float) -> Exception | None:
    """None when anything answers HTTP at ``url`` (an error status still proves it is up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as error:
        return error
