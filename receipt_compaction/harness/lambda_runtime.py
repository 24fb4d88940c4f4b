"""Running a handler the way Lambda runs it: with the environment variables of its function configuration."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from receipt_compaction.harness.event_sources import Handler

__all__ = ["handler_environment", "with_environment"]


@contextmanager
def handler_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ``; afterwards restore what each name held (or remove it)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def with_environment(handler: Handler, environ: Mapping[str, str]) -> Handler:
    """``handler`` invoked with ``environ`` set for each invocation, as its Lambda function would be."""

    def invoke(event: dict[str, Any], context: object) -> Mapping[str, Any]:
        with handler_environment(environ):
            return handler(event, context)

    return invoke
