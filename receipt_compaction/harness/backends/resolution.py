"""Checking that the fixtures' clients and the handlers' clients reach the same endpoint for every service.

The fixtures build clients with explicit endpoints; the handlers let boto3 read the environment (and the
shared config file). If the two disagree, a test writes its table on one server while the handlers read
another; this check turns that into one line at start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3

from receipt_compaction.aws import SERVICES, AwsClients
from receipt_compaction.harness.lambda_runtime import handler_environment

if TYPE_CHECKING:
    from receipt_compaction.harness.backends.base import Backend

__all__ = ["EndpointMismatch", "check_endpoints"]


class EndpointMismatch(RuntimeError):
    """The fixtures and the handlers would talk to different endpoints; the message names both."""


def check_endpoints(backend: Backend, clients: AwsClients) -> None:
    """Raise ``EndpointMismatch`` naming the first service whose endpoints differ."""
    with handler_environment(backend.environ()):
        session = boto3.session.Session()
        for service in SERVICES:
            fixtures = getattr(clients, service).meta.endpoint_url
            handlers = session.client(service, region_name=backend.region).meta.endpoint_url
            if fixtures.rstrip("/") != handlers.rstrip("/"):
                raise EndpointMismatch(
                    f"{service}: the fixtures' clients reach {fixtures} but the handlers' would reach "
                    f"{handlers} (check AWS_ENDPOINT_URL_* variables and the services sections of your AWS "
                    "config file)"
                )
