"""Publishing stream messages to the per-collection SQS queues with ``SendMessageBatch``.

Entries are sent ten to a call. Entries SQS reports as failed through no fault of the sender are retried
with bounded exponential backoff; what still fails is returned as data (which message, which queue, why),
so the caller can fail exactly the stream records those messages came from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName
from receipt_compaction.settings import QUEUE_URL_VARIABLES, SettingsError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from receipt_compaction.contract import QueueMessage

__all__ = [
    "MAX_BATCH_ENTRIES",
    "MessagePublisher",
    "PublishError",
    "PublishFailure",
    "QueuePublisher",
    "SendReport",
]

MAX_BATCH_ENTRIES = 10


@dataclass(frozen=True)
class PublishFailure:
    """A message that was not accepted: its index in the published sequence, its queue, and why."""

    index: int
    collection: CollectionName
    code: str
    reason: str


class PublishError(RuntimeError):
    """Messages one queue did not accept after every retry."""

    def __init__(
        self, collection: CollectionName, queue_url: str, failures: Sequence[PublishFailure]
    ) -> None:
        self.collection = collection
        self.queue_url = queue_url
        self.failures = tuple(failures)
        first = failures[0]
        super().__init__(
            f"SQS did not accept {len(failures)} message(s) for the {collection!r} queue ({queue_url}): "
            f"{first.code}: {first.reason}"
        )


@dataclass(frozen=True)
class SendReport:
    sent: int
    failures: tuple[PublishFailure, ...]
    queue_urls: Mapping[CollectionName, str]

    def failed_indexes(self) -> frozenset[int]:
        return frozenset(failure.index for failure in self.failures)

    def errors(self) -> list[PublishError]:
        """One error per queue that had failures."""
        return [
            PublishError(collection, self.queue_urls[collection], failures)
            for collection in COLLECTIONS
            if (failures := [f for f in self.failures if f.collection == collection])
        ]

    def raise_for_failures(self) -> None:
        errors = self.errors()
        if errors:
            raise errors[0]


class MessagePublisher(Protocol):
    def publish(self, messages: Sequence[QueueMessage]) -> SendReport: ...


class QueuePublisher:
    """Sends ``QueueMessage`` objects to the queue of their collection."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_urls: Mapping[CollectionName, str],
        *,
        max_attempts: int = 4,
        initial_backoff: float = 0.1,
        max_backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        missing = [collection for collection in COLLECTIONS if not queue_urls.get(collection)]
        if missing:
            names = ", ".join(QUEUE_URL_VARIABLES[collection] for collection in missing)
            raise SettingsError(f"no queue URL for {', '.join(map(repr, missing))}: set {names}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._sqs = sqs
        self._queue_urls = dict(queue_urls)
        self._max_attempts = max_attempts
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._sleep = sleep

    def publish(self, messages: Sequence[QueueMessage]) -> SendReport:
        failures: list[PublishFailure] = []
        for collection in COLLECTIONS:
            indexed = [(index, m) for index, m in enumerate(messages) if m.collection == collection]
            for start in range(0, len(indexed), MAX_BATCH_ENTRIES):
                failures += self._send_chunk(collection, indexed[start : start + MAX_BATCH_ENTRIES])
        return SendReport(len(messages) - len(failures), tuple(failures), dict(self._queue_urls))

    def _send_chunk(
        self, collection: CollectionName, chunk: list[tuple[int, QueueMessage]]
    ) -> list[PublishFailure]:
        queue_url = self._queue_urls[collection]
        fifo = queue_url.endswith(".fifo")
        pending = dict(chunk)
        final: list[PublishFailure] = []
        for attempt in range(1, self._max_attempts + 1):
            entries = [_entry(index, message, fifo=fifo) for index, message in pending.items()]
            try:
                response = self._sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                # botocore has already retried throttling and 5xx; what is left will not heal here.
                code, reason = _error_code(error)
                return final + [PublishFailure(index, collection, code, reason) for index in pending]
            retry: dict[int, QueueMessage] = {}
            for entry in response.get("Failed", []):
                index = int(entry["Id"])
                failure = PublishFailure(index, collection, entry.get("Code", "?"), entry.get("Message", ""))
                if entry.get("SenderFault") or attempt == self._max_attempts:
                    final.append(failure)
                else:
                    retry[index] = pending[index]
            if not retry:
                break
            pending = retry
            self._sleep(min(self._max_backoff, self._initial_backoff * 2 ** (attempt - 1)))
        return final


def _entry(index: int, message: QueueMessage, *, fifo: bool) -> Any:
    entry: dict[str, Any] = {
        "Id": str(index),
        "MessageBody": message.message.body(),
        "MessageAttributes": message.attributes(),
    }
    if fifo:
        entry["MessageGroupId"] = message.group_id()
        entry["MessageDeduplicationId"] = message.deduplication_id()
    return entry


def _error_code(error: ClientError | BotoCoreError) -> tuple[str, str]:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return details.get("Code", "ClientError"), details.get("Message", str(error))
    return type(error).__name__, str(error)
