"""What every backend is: a running endpoint (``Backend``), how one starts and stops (``Executor``), and
the one-line error of a backend that cannot start here (``BackendUnavailable``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from receipt_compaction.aws import SERVICES, endpoint_variable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from receipt_compaction.aws import Service

__all__ = ["Backend", "BackendUnavailable", "ContextManagedExecutor", "Executor"]


class BackendUnavailable(RuntimeError):
    """The backend cannot start here; the message is one actionable line."""


@dataclass(frozen=True)
class Backend:
    """A running endpoint: where each service is and the credentials to use with it.

    ``endpoint_url`` None means real AWS: boto3's default endpoints and credential chain.
    ``service_endpoints`` names the services served somewhere else than ``endpoint_url`` (DynamoDB Local
    serves DynamoDB and its streams while moto serves SQS and S3).
    """

    name: str
    endpoint_url: str | None
    region: str
    access_key_id: str | None = "testing"
    secret_access_key: str | None = "testing"  # emulator credentials, never real ones
    service_endpoints: Mapping[Service, str] = field(default_factory=dict)

    def endpoint_for(self, service: Service) -> str | None:
        return self.service_endpoints.get(service, self.endpoint_url)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AwsClients.connect`` (``endpoint_urls`` per service where they differ)."""
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url is not None:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.service_endpoints:
            kwargs["endpoint_urls"] = dict(self.service_endpoints)
        if self.access_key_id is not None:
            kwargs["aws_access_key_id"] = self.access_key_id
            kwargs["aws_secret_access_key"] = self.secret_access_key
        return kwargs

    def environ(self) -> dict[str, str]:
        """The variables that point boto3 (and so the handlers) at this backend.

        Every endpoint variable boto3 reads is set, so nothing inherited from the shell can send one service
        elsewhere: a service served at the main endpoint gets an empty ``AWS_ENDPOINT_URL_<SERVICE>``
        (which boto3 ignores), one served elsewhere gets its own URL."""
        environ = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url or "",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false",
        }
        for service in SERVICES:
            environ[endpoint_variable(service)] = self.service_endpoints.get(service, "")
        if self.access_key_id is not None and self.secret_access_key is not None:
            environ["AWS_ACCESS_KEY_ID"] = self.access_key_id
            environ["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        return environ


class Executor(Protocol):
    def start(self) -> Backend: ...

    def stop(self) -> None: ...


class ContextManagedExecutor:
    """An executor usable with ``with``: ``start`` on entry, ``stop`` on exit."""

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
