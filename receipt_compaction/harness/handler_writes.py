"""What the handlers wrote while a drain ran, seen on their own calls (``HANDLER_EVENTS``) as they made them.

A drain reports the versions the compactors published and the records the stream handler gave up on. Listing
the bucket and counting the on-failure queue before and after would say the same at four and two extra
calls per drain; the handlers' own successful calls say it exactly, at none: a version is published when
its manifest was written (and not deleted again by a publisher that lost the pointer race), a pointer moved
when its write succeeded, and a message reached a queue (the on-failure queue, a collection queue) when SQS
accepted it.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from receipt_compaction.aws import HANDLER_EVENTS
from receipt_compaction.chroma_ids import COLLECTIONS
from receipt_compaction.snapshot.layout import VERSION_ID_PATTERN, pointer_key, versions_prefix

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["HandlerWrites", "observe_handler_writes"]

_MANIFEST = "/manifest.json"
_CONTEXT_KEY = "receipt_compaction_harness_write"
_SENDS = ("SendMessage", "SendMessageBatch")


@dataclass
class HandlerWrites:
    """The handlers' successful writes to one bucket and to queues, in the order they were made."""

    bucket: str
    on_failure_url: str
    manifests: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in COLLECTIONS})
    """Versions whose manifest was written, by collection."""
    forgotten: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in COLLECTIONS})
    """Versions whose manifest was deleted again (a publish that lost the pointer race, retention)."""
    pointer_moves: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    """Successful pointer writes, by collection."""
    messages_sent: Counter[str] = field(default_factory=Counter)
    """Messages SQS accepted from a handler, by queue URL."""
    other_on_failure_messages: int = 0

    @property
    def on_failure_messages(self) -> int:
        """Messages that reached the on-failure queue: the stream handler's and the event source's."""
        return self.messages_sent[self.on_failure_url] + self.other_on_failure_messages

    def published_versions(self, collection: str) -> tuple[str, ...]:
        """The versions written and still there, sorted (version ids sort by time)."""
        return tuple(sorted(set(self.manifests[collection]) - self.forgotten[collection]))

    def pointer_moved(self, collection: str) -> bool:
        return self.pointer_moves[collection] > 0

    def count_on_failure(self, messages: int) -> None:
        """Messages sent to the on-failure queue by someone other than a handler (the event source)."""
        self.other_on_failure_messages += messages

    # -- hooks --------------------------------------------------------------------------------------------

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in ("PutObject", "DeleteObject") and params.get("Bucket") == self.bucket:
            context[_CONTEXT_KEY] = (model.name, str(params.get("Key", "")))
        elif model.name in _SENDS:
            context[_CONTEXT_KEY] = (model.name, str(params.get("QueueUrl", "")))

    def _after(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        seen = context.pop(_CONTEXT_KEY, None)
        if seen is None or not 200 <= getattr(http_response, "status_code", 0) < 300:
            return
        operation, key = seen
        if operation == "SendMessage":
            self.messages_sent[key] += 1
        elif operation == "SendMessageBatch":
            self.messages_sent[key] += len(parsed.get("Successful", []))
        else:
            self._object_written(operation, key)

    def _object_written(self, operation: str, key: str) -> None:
        for collection in COLLECTIONS:
            if key == pointer_key(collection) and operation == "PutObject":
                self.pointer_moves[collection] += 1
                return
            prefix = versions_prefix(collection)
            if key.startswith(prefix) and key.endswith(_MANIFEST):
                version = key[len(prefix) : -len(_MANIFEST)]
                if VERSION_ID_PATTERN.fullmatch(version):
                    if operation == "PutObject":
                        self.manifests[collection].append(version)
                    else:
                        self.forgotten[collection].add(version)
                return


@contextmanager
def observe_handler_writes(writes: HandlerWrites) -> Iterator[HandlerWrites]:
    """Record into ``writes`` every successful handler write to its bucket and to any queue meanwhile."""
    hooks: list[tuple[str, Callable[..., None]]] = [
        (
            "before-parameter-build",
            writes._before,
        ),  # the call's own parameters (before-call has the request's)
        ("after-call", writes._after),
    ]
    for event, hook in hooks:
        HANDLER_EVENTS.register(event, hook)
    try:
        yield writes
    finally:
        for event, hook in hooks:
            HANDLER_EVENTS.unregister(event, hook)
