"""Counting the AWS calls a scenario makes, by operation: the harness's own (the scenario's clients: seeding,
stream polling, queue receives, checks, resources) and the handlers' (every handler client's events reach
``HANDLER_EVENTS``). ``before-call`` fires once per API call, whatever retries happen below it."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from receipt_compaction.aws import HANDLER_EVENTS
from receipt_compaction.harness.faults import events_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from receipt_compaction.aws import AwsClients

__all__ = ["AwsCalls", "count_aws_calls"]


@dataclass
class AwsCalls:
    """API calls by operation name (``GetRecords``, ``PutObject``, ...), the harness's and the handlers'."""

    harness: Counter[str] = field(default_factory=Counter)
    handlers: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.harness.total() + self.handlers.total()

    def summary(self, *, top: int = 6) -> str:
        """``N AWS calls: harness H (GetRecords 9, ...), handlers K (PutObject 12, ...)``."""
        return (
            f"{self.total} AWS calls: harness {self.harness.total()} ({_most(self.harness, top)}), "
            f"handlers {self.handlers.total()} ({_most(self.handlers, top)})"
        )

    def add(self, other: AwsCalls) -> None:
        self.harness.update(other.harness)
        self.handlers.update(other.handlers)


def _most(counts: Counter[str], top: int) -> str:
    shown = [f"{name} {count}" for name, count in counts.most_common(top)]
    rest = counts.total() - sum(count for _, count in counts.most_common(top))
    return ", ".join(shown + ([f"other {rest}"] if rest else [])) or "none"


@contextmanager
def count_aws_calls(clients: AwsClients) -> Iterator[AwsCalls]:
    """Count every call made meanwhile through ``clients`` (harness) and through any handler client."""
    calls = AwsCalls()

    def harness(model: Any, **_: Any) -> None:
        calls.harness[model.name] += 1

    def handler(model: Any, **_: Any) -> None:
        calls.handlers[model.name] += 1

    hooks = [
        (events_of(client), harness)
        for client in (clients.dynamodb, clients.dynamodbstreams, clients.sqs, clients.s3)
    ]
    hooks.append((HANDLER_EVENTS, handler))
    for events, hook in hooks:
        events.register("before-call", hook)
    try:
        yield calls
    finally:
        for events, hook in hooks:
            events.unregister("before-call", hook)
