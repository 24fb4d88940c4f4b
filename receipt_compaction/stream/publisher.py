"""Publishing stream messages to the per-collection SQS queues with ``SendMessageBatch``.

Entries are cut into calls by count and by bytes, within SQS's documented limits: at most ten entries, a
message at most 256 KiB (262,144 bytes) and a whole batch at most 256 KiB, where a message's size is its body
plus every message attribute's name, type and value (UTF-8). AWS raised the per-message limit to 1 MiB in
2025, but a queue's ``MaximumMessageSize`` may still say 262,144 and emulators differ, so the publisher keeps
to the limit every queue accepts; both limits are options.

A message larger than one message may be can never be sent: it is not sent at all and comes back as a
*permanent* failure of its record (never retried). Entries SQS reports as failed through no fault of the
sender are retried with bounded exponential backoff; a call SQS refuses as too long (its own accounting
stricter than ours) is split in halves. What still fails is returned as data (which message, which queue,
why, and whether retrying can ever help), so the caller can fail exactly the stream records those messages
came from.
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

    from receipt_compaction.contract import SendableMessage

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENTRIES",
    "MAX_MESSAGE_BYTES",
    "MessagePublisher",
    "PublishError",
    "PublishFailure",
    "QueuePublisher",
    "SendReport",
    "entry_size",
]

MAX_BATCH_ENTRIES = 10
MAX_MESSAGE_BYTES = 262_144
"""256 KiB: the largest message (body and message attributes) every SQS queue accepts."""
MAX_BATCH_BYTES = 262_144
"""256 KiB: the largest sum of the message sizes of one ``SendMessageBatch`` call."""
MESSAGE_TOO_LONG = "MessageTooLong"
_BATCH_TOO_LONG = frozenset({"AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong"})


@dataclass(frozen=True)
class PublishFailure:
    """A message that was not accepted: its index in the published sequence, its queue, and why."""

    index: int
    collection: CollectionName
    code: str
    reason: str
    permanent: bool = False
    """True when no retry can ever succeed (the message is larger than SQS accepts)."""


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

    def permanent_failures(self) -> dict[int, PublishFailure]:
        """The failures no retry can heal, by message index."""
        return {failure.index: failure for failure in self.failures if failure.permanent}

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
    def publish(self, messages: Sequence[SendableMessage]) -> SendReport: ...


class QueuePublisher:
    """Sends messages (``QueueMessage`` or ``OutgoingMessage``) to the queue of their collection."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_urls: Mapping[CollectionName, str],
        *,
        max_attempts: int = 4,
        initial_backoff: float = 0.1,
        max_backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_batch_bytes: int = MAX_BATCH_BYTES,
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
        if not 0 < max_message_bytes <= max_batch_bytes:
            raise ValueError(
                f"max_message_bytes ({max_message_bytes}) must be positive and at most max_batch_bytes "
                f"({max_batch_bytes}): one message must fit a batch"
            )
        self._max_message_bytes = max_message_bytes
        self._max_batch_bytes = max_batch_bytes

    def publish(self, messages: Sequence[SendableMessage]) -> SendReport:
        failures: list[PublishFailure] = []
        for collection in COLLECTIONS:
            fifo = self._queue_urls[collection].endswith(".fifo")
            entries = [
                _entry(index, message, fifo=fifo)
                for index, message in enumerate(messages)
                if message.collection == collection
            ]
            sendable = []
            for entry in entries:
                size = entry_size(entry)
                if size > self._max_message_bytes:
                    failures.append(self._too_long(entry, collection, size))
                else:
                    sendable.append((entry, size))
            for chunk in self._chunks(sendable):
                failures += self._send_chunk(collection, chunk)
        return SendReport(len(messages) - len(failures), tuple(failures), dict(self._queue_urls))

    def _too_long(self, entry: dict[str, Any], collection: CollectionName, size: int) -> PublishFailure:
        reason = (
            f"the message is {size} bytes (body and attributes); SQS accepts at most "
            f"{self._max_message_bytes}: it can never be sent"
        )
        return PublishFailure(int(entry["Id"]), collection, MESSAGE_TOO_LONG, reason, permanent=True)

    def _chunks(self, sized: list[tuple[dict[str, Any], int]]) -> list[list[dict[str, Any]]]:
        """Consecutive entries, at most ``MAX_BATCH_ENTRIES`` and ``max_batch_bytes`` to a chunk."""
        chunks: list[list[dict[str, Any]]] = []
        current: list[dict[str, Any]] = []
        current_bytes = 0
        for entry, size in sized:
            if current and (
                len(current) == MAX_BATCH_ENTRIES or current_bytes + size > self._max_batch_bytes
            ):
                chunks.append(current)
                current, current_bytes = [], 0
            current.append(entry)
            current_bytes += size
        if current:
            chunks.append(current)
        return chunks

    def _send_chunk(self, collection: CollectionName, chunk: list[dict[str, Any]]) -> list[PublishFailure]:
        queue_url = self._queue_urls[collection]
        pending = {int(entry["Id"]): entry for entry in chunk}
        final: list[PublishFailure] = []
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._sqs.send_message_batch(QueueUrl=queue_url, Entries=list(pending.values()))  # type: ignore[arg-type]
            except (ClientError, BotoCoreError) as error:
                # botocore has already retried throttling and 5xx; what is left will not heal here.
                code, reason = _error_code(error)
                if code in _BATCH_TOO_LONG:
                    return final + self._split(collection, list(pending.values()), code, reason)
                return final + [PublishFailure(index, collection, code, reason) for index in pending]
            retry: dict[int, dict[str, Any]] = {}
            for failed in response.get("Failed", []):
                index = int(failed["Id"])
                failure = PublishFailure(
                    index, collection, failed.get("Code", "?"), failed.get("Message", "")
                )
                if failed.get("SenderFault") or attempt == self._max_attempts:
                    final.append(failure)
                else:
                    retry[index] = pending[index]
            if not retry:
                break
            pending = retry
            self._sleep(min(self._max_backoff, self._initial_backoff * 2 ** (attempt - 1)))
        return final

    def _split(
        self, collection: CollectionName, entries: list[dict[str, Any]], code: str, reason: str
    ) -> list[PublishFailure]:
        """SQS counts a call longer than we do: send each half on its own; one entry alone too long can
        never be sent (the queue's ``MaximumMessageSize`` is below ours)."""
        if len(entries) == 1:
            index = int(entries[0]["Id"])
            return [PublishFailure(index, collection, code, f"{reason} (alone)", permanent=True)]
        middle = len(entries) // 2
        return self._send_chunk(collection, entries[:middle]) + self._send_chunk(collection, entries[middle:])


def entry_size(entry: Mapping[str, Any]) -> int:
    """A ``SendMessageBatch`` entry's size as SQS counts it: the body's UTF-8 bytes plus every message
    attribute's name, data type and value."""
    size = len(str(entry["MessageBody"]).encode())
    for name, attribute in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(str(attribute["DataType"]).encode())
        size += len(str(attribute.get("StringValue", "")).encode()) + len(attribute.get("BinaryValue", b""))
    return size


def _entry(index: int, message: SendableMessage, *, fifo: bool) -> Any:
    entry: dict[str, Any] = {
        "Id": str(index),
        "MessageBody": message.body(),
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
