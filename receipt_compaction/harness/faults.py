"""Faults that real parts cannot produce on demand, injected through botocore's event hooks.

The client stays a real boto3 client talking to a real endpoint; a fault only changes what one call sends
or what it reports, exactly where AWS itself could have failed. A fault attaches to the events of one client
(``client``) or to those of every handler client (``receipt_compaction.aws.HANDLER_EVENTS``): say which.

The stream faults (``STREAM_FAULTS``: ``empty_pages``, ``stream_latency``, ``iterator_expired``,
``shard_split``, ``identical_put``) are what real DynamoDB Streams do and neither moto nor DynamoDB Local
produce; they attach to the client that reads the stream (``LocalPipeline.clients.dynamodbstreams``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self, TypeAlias

from botocore.awsrequest import AWSResponse
from botocore.hooks import BaseEventHooks

from receipt_compaction.observe import emit

__all__ = [
    "STREAM_FAULTS",
    "EmptyPages",
    "IdenticalPut",
    "IteratorExpired",
    "S3PointerConflicts",
    "ShardSplit",
    "SqsBatchRewrite",
    "SqsEntryFaults",
    "StreamLatency",
    "events_of",
    "stream_fault",
]

logger = logging.getLogger(__name__)


def events_of(target: Any) -> Any:
    """The event hooks of a boto3 client, or ``target`` itself when it is already event hooks (such as
    ``receipt_compaction.aws.HANDLER_EVENTS``)."""
    if isinstance(target, BaseEventHooks):
        return target
    return target.meta.events


class SqsEntryFaults:
    """Make ``SendMessageBatch`` report chosen entries as failed, as SQS does under internal errors.

    ``calls`` maps a call number (1 = the first ``SendMessageBatch`` after entering) to the positions of the
    entries that call fails; ``where`` fails every entry it returns True for, on every call (a message that
    never gets through). A failed entry is removed
    from the request before it is sent, so it really never reaches the queue, and is listed in the
    response's ``Failed`` list with ``SenderFault`` as given. A moto server accepts every well-formed entry,
    and real SQS fails entries only under conditions nobody can cause at will: hence this hook.
    """

    def __init__(
        self,
        target: Any,
        *,
        calls: Mapping[int, set[int]] | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        sender_fault: bool = False,
        code: str = "InternalError",
    ) -> None:
        self._events = events_of(target)
        self._calls = dict(calls or {})
        self._where = where or (lambda entry: False)
        self._sender_fault = sender_fault
        self._code = code
        self.call_count = 0
        self.failed_ids: list[str] = []
        self._dropped: list[dict[str, Any]] = []
        self._nothing_to_send = False

    def __enter__(self) -> Self:
        self._events.register("before-parameter-build.sqs.SendMessageBatch", self._drop_entries)
        self._events.register("before-call.sqs.SendMessageBatch", self._short_circuit_empty)
        self._events.register("after-call.sqs.SendMessageBatch", self._report_dropped)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._events.unregister("before-parameter-build.sqs.SendMessageBatch", self._drop_entries)
        self._events.unregister("before-call.sqs.SendMessageBatch", self._short_circuit_empty)
        self._events.unregister("after-call.sqs.SendMessageBatch", self._report_dropped)

    def _drop_entries(self, params: dict[str, Any], **_: Any) -> None:
        self.call_count += 1
        positions = self._calls.get(self.call_count, set())
        entries = params["Entries"]
        failing = [position in positions or self._where(entry) for position, entry in enumerate(entries)]
        self._dropped = [entry for entry, fails in zip(entries, failing, strict=True) if fails]
        params["Entries"] = [entry for entry, fails in zip(entries, failing, strict=True) if not fails]
        self.failed_ids += [entry["Id"] for entry in self._dropped]
        if self._dropped:
            emit(
                "fault",
                fault="sqs_send_failure",
                detail=f"{len(self._dropped)} SendMessageBatch entries failed",
            )
        self._nothing_to_send = not params["Entries"]

    def _short_circuit_empty(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        # SQS rejects an empty batch outright; when every entry is failed, answer without sending.
        if not self._nothing_to_send:
            return None
        response = AWSResponse("", 200, {}, None)  # type: ignore[arg-type]
        return response, {"Successful": [], "Failed": [], "ResponseMetadata": {"HTTPStatusCode": 200}}

    def _report_dropped(self, parsed: dict[str, Any], **_: Any) -> None:
        failed = parsed.setdefault("Failed", [])
        failed += [
            {
                "Id": entry["Id"],
                "SenderFault": self._sender_fault,
                "Code": self._code,
                "Message": "injected fault",
            }
            for entry in self._dropped
        ]
        self._dropped = []


class SqsBatchRewrite:
    """Rewrite every ``SendMessageBatch`` before it is sent: ``duplicate`` sends each entry twice (what
    at-least-once delivery can do), ``reverse`` sends them in reverse order (what a standard queue can do)."""

    def __init__(self, target: Any, *, duplicate: bool = False, reverse: bool = False) -> None:
        self._events = events_of(target)
        self._duplicate = duplicate
        self._reverse = reverse

    def __enter__(self) -> Self:
        self._events.register("before-parameter-build.sqs.SendMessageBatch", self._rewrite)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._events.unregister("before-parameter-build.sqs.SendMessageBatch", self._rewrite)

    def _rewrite(self, params: dict[str, Any], **_: Any) -> None:
        entries = list(params["Entries"])
        if self._duplicate:
            entries += [{**entry, "Id": f"{entry['Id']}-again"} for entry in entries]
        if self._reverse:
            entries.reverse()
        emit(
            "fault", fault="sqs_batch_rewrite", detail=f"duplicate={self._duplicate} reverse={self._reverse}"
        )
        params["Entries"] = entries


class S3PointerConflicts:
    """Make ``times`` writes of a snapshot pointer, after ``skip`` that go through, fail with ``412
    PreconditionFailed`` or ``409 ConditionalRequestConflict``, as S3 answers a writer that lost a race.
    A failed write is not sent."""

    def __init__(self, target: Any, *, status: int = 412, times: int = 1, skip: int = 0) -> None:
        self._events = events_of(target)
        self._status = status
        self._left = times
        self._skip = skip
        self.injected = 0

    def __enter__(self) -> Self:
        self._events.register("before-call.s3.PutObject", self._conflict)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._events.unregister("before-call.s3.PutObject", self._conflict)

    def _conflict(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self._left <= 0 or not str(params.get("url_path", "")).endswith("/latest-pointer.txt"):
            return None
        if self._skip > 0:
            self._skip -= 1
            return None
        self._left -= 1
        self.injected += 1
        code = "PreconditionFailed" if self._status == 412 else "ConditionalRequestConflict"
        emit("fault", fault="pointer_conflict", detail=f"pointer write answered {self._status} {code}")
        error = {"Code": code, "Message": "injected: another writer changed the pointer"}
        response = AWSResponse("", self._status, {}, None)  # type: ignore[arg-type]
        return response, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": self._status}}


# -- DynamoDB Streams: what real streams do and no emulator here produces ------------------------------------
#
# These attach to the events of the client that reads the stream (the pipeline's own ``dynamodbstreams``
# client, ``LocalPipeline.clients.dynamodbstreams``), so the shard reader meets them as it would meet AWS.

STREAMS = "dynamodb-streams"
_ITERATOR = "receipt_compaction.shard_iterator"
_CHILD = "receipt_compaction.child_shard"

Hook: TypeAlias = tuple[str, Callable[..., Any]]


class _Hooks:
    """Registers ``_hooks()`` on the target's events on entry and unregisters them on exit."""

    def __init__(self, target: Any) -> None:
        self._events = events_of(target)

    def _hooks(self) -> list[Hook]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        for event, handler in self._hooks():
            self._events.register(event, handler)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for event, handler in self._hooks():
            self._events.unregister(event, handler)


def _remember_iterator(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_ITERATOR] = params.get("ShardIterator")


def _answer(parsed: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    """A response made here instead of by the endpoint (botocore skips the HTTP request)."""
    response = AWSResponse("", status, {}, None)  # type: ignore[arg-type]
    return response, {**parsed, "ResponseMetadata": {"HTTPStatusCode": status}}


def _sequence(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


class EmptyPages(_Hooks):
    """``empty_pages``: the next ``pages`` ``GetRecords`` calls answer an empty page whose
    ``NextShardIterator`` still points where the call read (the records come after). Real DynamoDB Streams
    answer such pages in the middle of a shard; DynamoDB Local and moto never do."""

    def __init__(self, target: Any, *, pages: int) -> None:
        super().__init__(target)
        if pages < 1:
            raise ValueError(f"empty_pages needs at least 1 page, not {pages}")
        self._left = pages
        self.injected = 0

    def _hooks(self) -> list[Hook]:
        return [
            (f"before-parameter-build.{STREAMS}.GetRecords", _remember_iterator),
            (f"before-call.{STREAMS}.GetRecords", self._empty_page),
        ]

    def _empty_page(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self._left <= 0:
            return None
        self._left -= 1
        self.injected += 1
        emit("fault", fault="empty_pages", detail="an empty GetRecords page")
        return _answer({"Records": [], "NextShardIterator": context[_ITERATOR]})


class IteratorExpired(_Hooks):
    """``iterator_expired``: the next ``times`` ``GetRecords`` calls fail with ``ExpiredIteratorException``
    (or ``code``, e.g. ``TrimmedDataAccessException``), as AWS answers an iterator unused for 15 minutes."""

    def __init__(self, target: Any, *, times: int = 1, code: str = "ExpiredIteratorException") -> None:
        super().__init__(target)
        self._left = times
        self._code = code
        self.injected = 0

    def _hooks(self) -> list[Hook]:
        return [(f"before-call.{STREAMS}.GetRecords", self._expire)]

    def _expire(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self._left <= 0:
            return None
        self._left -= 1
        self.injected += 1
        emit("fault", fault="iterator_expired", detail=self._code)
        message = "injected: Iterator expired. The iterator was created more than 15 minutes ago."
        return _answer({"Error": {"Code": self._code, "Message": message}}, status=400)


class StreamLatency(_Hooks):
    """``stream_latency``: a record becomes visible to ``GetRecords`` only ``milliseconds`` after, or
    ``polls`` calls after, the call that first found it; until then the page ends before it (an empty page
    whose iterator stays where it read). On AWS and LocalStack records reach the stream after the write
    returns; on moto and DynamoDB Local they are there at once.

    A page whose first records are visible and later ones not is answered empty once, and the next call with
    the same iterator asks for only the visible ones (``Limit``), so every iterator stays a real one."""

    def __init__(self, target: Any, *, milliseconds: float | None = None, polls: int | None = None) -> None:
        super().__init__(target)
        if (milliseconds is None) == (polls is None):
            raise ValueError("stream_latency takes milliseconds or polls (one of them)")
        self._milliseconds = milliseconds
        self._polls = polls
        self._calls = 0
        self._first_seen: dict[str, tuple[float, int]] = {}
        self._limits: dict[str, int] = {}
        self.hidden = 0
        """How many times a record was held back."""

    def _hooks(self) -> list[Hook]:
        return [
            (f"before-parameter-build.{STREAMS}.GetRecords", self._before),
            (f"after-call.{STREAMS}.GetRecords", self._hide),
        ]

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self._calls += 1
        iterator = params.get("ShardIterator")
        context[_ITERATOR] = iterator
        if iterator in self._limits:
            params["Limit"] = min(int(params.get("Limit", 1000)), self._limits.pop(iterator))

    def _hide(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        records = parsed.get("Records")
        if not records:
            return
        now = time.monotonic()
        visible = 0
        for record in records:
            seen_at, seen_call = self._first_seen.setdefault(_sequence(record), (now, self._calls))
            if not self._visible(now - seen_at, self._calls - seen_call):
                break
            visible += 1
        if visible == len(records):
            return
        self.hidden += len(records) - visible
        emit("fault", fault="stream_latency", detail=f"{len(records) - visible} records held back")
        if visible:
            self._limits[context[_ITERATOR]] = visible
        parsed["Records"] = []
        parsed["NextShardIterator"] = context[_ITERATOR]

    def _visible(self, age: float, calls: int) -> bool:
        if self._polls is not None:
            return calls >= self._polls
        assert self._milliseconds is not None
        return age * 1000 >= self._milliseconds


class ShardSplit(_Hooks):
    """``shard_split``: the stream's open shard closes after ``after`` more records and the stream goes on in
    a child shard, as DynamoDB Streams does every few hours (one shard is all the emulators ever have).

    ``DescribeStream`` shows the shard closed at the last sequence number read from it and a child
    (``ParentShardId`` the shard); ``GetRecords`` on the shard stops there (no ``NextShardIterator``); the
    child's iterators are the real shard's, from the record after the split (``TRIM_HORIZON`` of the child
    is ``AFTER_SEQUENCE_NUMBER`` of the split). After the fault, a reader keeps the child iterators it holds:
    they are real ones."""

    def __init__(self, streams: Any, *, stream_arn: str, after: int = 1) -> None:
        super().__init__(streams)
        if after < 1:
            raise ValueError(f"shard_split needs after >= 1 (records read before the split), not {after}")
        self._streams = streams
        self._stream_arn = stream_arn
        self._after = after
        self._read = 0
        self._children: set[str] = set()
        self.parent: str | None = None
        self.child: str | None = None
        self.split_at: str | None = None
        """The last sequence number of the closed shard, once it split."""

    def __enter__(self) -> Self:
        self.parent = _only_open_shard(self._streams, self._stream_arn)
        self.child = f"{self.parent}-split"
        return super().__enter__()

    def _hooks(self) -> list[Hook]:
        return [
            (f"before-parameter-build.{STREAMS}.GetShardIterator", self._child_iterator_request),
            (f"after-call.{STREAMS}.GetShardIterator", self._child_iterator_answer),
            (f"before-parameter-build.{STREAMS}.GetRecords", self._records_request),
            (f"after-call.{STREAMS}.GetRecords", self._records_answer),
            (f"after-call.{STREAMS}.DescribeStream", self._describe_answer),
        ]

    def _child_iterator_request(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if params.get("ShardId") != self.child or self.split_at is None:
            return
        context[_CHILD] = True
        params["ShardId"] = self.parent
        if params.get("ShardIteratorType") == "TRIM_HORIZON":
            params["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            params["SequenceNumber"] = self.split_at

    def _child_iterator_answer(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get(_CHILD) and parsed.get("ShardIterator"):
            self._children.add(parsed["ShardIterator"])

    def _records_request(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_CHILD] = params.get("ShardIterator") in self._children

    def _records_answer(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "Records" not in parsed:
            return  # an error
        if context.get(_CHILD):
            if parsed.get("NextShardIterator"):
                self._children.add(parsed["NextShardIterator"])
            return
        records = parsed["Records"]
        if self.split_at is None:
            needed = self._after - self._read
            if len(records) < needed:
                self._read += len(records)
                return
            records = records[:needed]
            self._read += needed
            self.split_at = _sequence(records[-1])
            logger.info("shard_split: shard %s closes at %s", self.parent, self.split_at)
            emit("fault", fault="shard_split", detail=f"shard {self.parent} closes at {self.split_at}")
        kept = [record for record in records if int(_sequence(record)) <= int(self.split_at)]
        if len(kept) < len(parsed["Records"]) or not kept:
            parsed.pop("NextShardIterator", None)  # closed, and read to its end
        parsed["Records"] = kept

    def _describe_answer(self, parsed: dict[str, Any], **_: Any) -> None:
        description = parsed.get("StreamDescription")
        if self.split_at is None or description is None:
            return
        for shard in description.get("Shards", []):
            if shard["ShardId"] == self.parent:
                shard.setdefault("SequenceNumberRange", {})["EndingSequenceNumber"] = self.split_at
        if not description.get("LastEvaluatedShardId"):
            start = str(int(self.split_at) + 1).zfill(len(self.split_at))
            description.setdefault("Shards", []).append(
                {
                    "ShardId": self.child,
                    "ParentShardId": self.parent,
                    "SequenceNumberRange": {"StartingSequenceNumber": start},
                }
            )


def _only_open_shard(streams: Any, stream_arn: str) -> str:
    open_shards: list[str] = []
    kwargs: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        open_shards += [
            shard["ShardId"]
            for shard in description.get("Shards", [])
            if "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})
        ]
        if not description.get("LastEvaluatedShardId"):
            break
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
    if len(open_shards) != 1:
        raise ValueError(
            f"shard_split splits a stream's one open shard; {stream_arn} has {len(open_shards)} "
            f"({', '.join(open_shards) or 'none'})"
        )
    return open_shards[0]


class IdenticalPut(_Hooks):
    """``identical_put``: a put that changes nothing writes no stream record, as on AWS and DynamoDB Local.
    moto writes a MODIFY whose old and new images are equal: this fault removes such records from
    ``GetRecords`` pages (their sequence numbers are skipped, as if never written). Without it, moto's lane
    delivers that MODIFY; either way the stream stage must send no message."""

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self.dropped = 0

    def _hooks(self) -> list[Hook]:
        return [(f"after-call.{STREAMS}.GetRecords", self._drop_identical)]

    def _drop_identical(self, parsed: dict[str, Any], **_: Any) -> None:
        records = parsed.get("Records")
        if not records:
            return
        kept = [record for record in records if not _changes_nothing(record)]
        self.dropped += len(records) - len(kept)
        if len(kept) < len(records):
            emit(
                "fault", fault="identical_put", detail=f"{len(records) - len(kept)} no-change MODIFY dropped"
            )
        parsed["Records"] = kept


def _changes_nothing(record: Mapping[str, Any]) -> bool:
    images = record.get("dynamodb", {})
    return bool(
        record.get("eventName") == "MODIFY"
        and "NewImage" in images
        and images.get("OldImage") == images.get("NewImage")
    )


STREAM_FAULTS = ("empty_pages", "stream_latency", "iterator_expired", "shard_split", "identical_put")


def stream_fault(name: str, options: Any, *, streams: Any, stream_arn: str) -> AbstractContextManager[Any]:
    """The stream fault ``name`` (one of ``STREAM_FAULTS``) on the ``streams`` client, from a scenario's
    ``fault:`` arguments: ``empty_pages: N``, ``stream_latency: {milliseconds: T}`` or ``{polls: N}``,
    ``iterator_expired: true`` or ``{times: N}``, ``shard_split: true`` or ``{after: N}``,
    ``identical_put: true``."""
    settings = options if isinstance(options, Mapping) else {}
    if name == "empty_pages":
        return EmptyPages(
            streams, pages=int(options if not isinstance(options, Mapping) else options["pages"])
        )
    if name == "stream_latency":
        return StreamLatency(streams, milliseconds=settings.get("milliseconds"), polls=settings.get("polls"))
    if name == "iterator_expired":
        return IteratorExpired(streams, times=int(settings.get("times", 1)))
    if name == "shard_split":
        return ShardSplit(streams, stream_arn=stream_arn, after=int(settings.get("after", 1)))
    if name == "identical_put":
        return IdenticalPut(streams)
    raise ValueError(f"no stream fault named {name!r}: the stream faults are {', '.join(STREAM_FAULTS)}")
