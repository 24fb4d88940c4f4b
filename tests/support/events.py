"""The Lambda events kept as JSON under ``tests/events`` (see its README), loaded for a backend."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from tests.support.paths import EVENTS

__all__ = ["EVENT_NAMES", "load_event", "read_event"]

EVENT_NAMES = tuple(sorted(path.stem for path in EVENTS.glob("*.json")))
_ARN_REGION = re.compile(r"^(arn:aws[a-z-]*:[a-z0-9-]+:)[a-z0-9-]*(:.*)$")


def read_event(name: str) -> dict[str, Any]:
    """The event in ``tests/events/{name}.json`` as it is written there (a fresh copy on every call)."""
    path = EVENTS / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no event {name!r} in {EVENTS}; there are: {', '.join(EVENT_NAMES)}")
    event: dict[str, Any] = json.loads(path.read_text())
    return event


def load_event(name: str, *, region: str, source_arn: str | None = None) -> dict[str, Any]:
    """The event as the backend's event source would deliver it: every record's ``awsRegion`` is ``region``,
    its ``eventSourceARN`` is ``source_arn`` (when given; else the region inside the ARN is replaced, and a
    placeholder such as ``stream-ARN`` stays), and an SQS body that is a contract message says ``region`` as
    its ``aws_region`` (its ``md5OfBody`` follows)."""
    event = read_event(name)
    for record in event["Records"]:
        record["awsRegion"] = region
        if source_arn is not None:
            record["eventSourceARN"] = source_arn
        elif "eventSourceARN" in record:
            record["eventSourceARN"] = _ARN_REGION.sub(rf"\g<1>{region}\g<2>", record["eventSourceARN"])
        if "body" in record:
            record["body"] = _with_region(record["body"], region)
            record["md5OfBody"] = hashlib.md5(record["body"].encode()).hexdigest()
    return event


def _with_region(body: str, region: str) -> str:
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        return body  # not a contract message (AWS's "Test message."): left as it is
    if not isinstance(message, dict) or "aws_region" not in message:
        return body
    return json.dumps({**message, "aws_region": region}, separators=(",", ":"))
