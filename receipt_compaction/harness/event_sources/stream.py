"""The local stream event source: a table's DynamoDB stream read the way a Lambda event source mapping reads
it, invoking a handler with Lambda stream events.

One shard reader (``ShardReader``) serves both the event source and ``read_stream_records``. It reads the way
AWS's streams must be read, not the way one emulator happens to answer:

- ``DescribeStream`` is paged (``LastEvaluatedShardId``) and called only when the shard set may have changed:
  at the start (unless the caller hands over a complete listing it just read), when a shard closes, and while
  no shard is known.
- A shard is read while a ``NextShardIterator`` exists. An empty page does not end it: real streams answer
  empty pages in the middle of a shard. Each pass reads at most ``empty_pages_per_pass`` consecutive empty
  pages per shard, then moves on and comes back on the next pass; a shard counts as caught up after
  ``quiet_empty_pages`` consecutive empty pages.
- A child shard starts only after its parent is closed and fully processed (read, and every record handled);
  closed, drained shards are retired.
- On ``ExpiredIteratorException`` or ``TrimmedDataAccessException`` the reader takes a new iterator
  ``AFTER_SEQUENCE_NUMBER`` the last record it read from that shard (``TRIM_HORIZON`` when it read none) and
  logs it.

On ``batchItemFailures`` the event source checkpoints before the lowest failed SequenceNumber and retries from
there; a handler error retries the batch (halving it when bisect is on); a record that exhausts its retries
goes to an on-failure destination, never silently away.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from receipt_compaction.harness.deployment import deployed_settings
from receipt_compaction.harness.event_sources.invocation import Handler, Invocation
from receipt_compaction.harness.lambda_events import lambda_stream_event

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_dynamodbstreams.type_defs import GetRecordsOutputTypeDef

__all__ = [
    "MAX_PAGE_LIMIT",
    "IteratorRenewal",
    "Shard",
    "ShardReader",
    "StreamReadError",
    "StreamSource",
    "StreamSourceSettings",
    "failure_message",
    "read_stream_records",
]

logger = logging.getLogger(__name__)

MAX_PAGE_LIMIT = 1000
"""The largest ``GetRecords`` Limit DynamoDB Streams accepts (DynamoDB Local refuses more; moto does not)."""

RENEWABLE_ERRORS = frozenset({"ExpiredIteratorException", "TrimmedDataAccessException"})
MAX_RENEWALS_PER_PASS = 3


class StreamReadError(RuntimeError):
    """The stream cannot be read on: the message names the stream, the shard and what it answered."""


@dataclass(frozen=True)
class StreamSourceSettings:
    """How the stream is read and how its handler is retried.

    ``page_limit`` is ``GetRecords``' Limit (1 to 1000). A pass reads each shard until it has answered
    ``empty_pages_per_pass`` consecutive empty pages (or ``pages_per_pass`` pages); a shard counts as caught
    up once it has answered ``quiet_empty_pages`` consecutive empty pages since its last record.

    ``batch_size``, ``max_retries``, ``bisect_on_error`` and ``max_record_age`` (seconds, -1 for none) default
    to the deployed stream mapping's (``deploy/template.yaml``, read by ``harness.deployment``).
    """

    batch_size: int = field(default_factory=lambda: deployed_settings().stream_batch_size)
    max_retries: int = field(default_factory=lambda: deployed_settings().stream_max_retries)
    bisect_on_error: bool = field(default_factory=lambda: deployed_settings().stream_bisect_on_error)
    max_record_age: int = field(default_factory=lambda: deployed_settings().stream_max_record_age)
    page_limit: int = MAX_PAGE_LIMIT
    empty_pages_per_pass: int = 3
    quiet_empty_pages: int = 6
    pages_per_pass: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(
                f"StreamSourceSettings(page_limit={self.page_limit}): GetRecords takes a Limit from 1 to "
                f"{MAX_PAGE_LIMIT} (DynamoDB Streams and DynamoDB Local refuse more)"
            )
        for name in ("batch_size", "empty_pages_per_pass", "quiet_empty_pages", "pages_per_pass"):
            if getattr(self, name) < 1:
                raise ValueError(f"StreamSourceSettings({name}={getattr(self, name)}): it must be at least 1")


@dataclass
class Shard:
    """One shard as the reader knows it: where it reads, what it read and has not handed on yet."""

    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    started: bool = False
    ended: bool = False
    """Closed and read to its end: ``GetRecords`` returned no ``NextShardIterator``."""
    last_sequence: str | None = None
    """The SequenceNumber of the last record read from this shard: where a new iterator starts after."""
    empty_streak: int = 0
    """Consecutive empty pages since the last record."""
    pending: list[dict[str, Any]] = field(default_factory=list)
    """Records read and not yet handled (``GetRecords`` shape)."""


@dataclass(frozen=True)
class IteratorRenewal:
    """A shard iterator replaced after ``reason``: ``after_sequence`` None means from ``TRIM_HORIZON``."""

    shard_id: str
    reason: str
    after_sequence: str | None


class ShardReader:
    """Reads every shard of one stream into per-shard ``pending`` buffers, pass by pass (``poll``)."""

    def __init__(
        self,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        *,
        settings: StreamSourceSettings | None = None,
        description: Mapping[str, Any] | None = None,
    ) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.settings = settings or StreamSourceSettings()
        self.renewals: list[IteratorRenewal] = []
        self.describe_calls = 0
        self._shards: dict[str, Shard] = {}
        self._retired: set[str] = set()
        self._describe_needed = True
        if description is not None and not description.get("LastEvaluatedShardId"):
            self._add_shards(description)  # a complete listing just read: no DescribeStream to start
            self._describe_needed = not self._shards

    @property
    def shards(self) -> tuple[Shard, ...]:
        """The shards not yet retired, parents before their children."""
        return tuple(self._shards.values())

    @property
    def retired(self) -> frozenset[str]:
        """The shards closed, read to their end and fully handled."""
        return frozenset(self._retired)

    def poll(self) -> int:
        """One pass: refresh the shard set if it may have changed, retire finished shards, start the shards
        whose parents are done, read every started one. Returns how many records arrived."""
        self._retire_finished()
        if self._describe_needed or not self._shards:
            self._describe()
        self._start_ready()
        return sum(self._read(shard) for shard in self._shards.values() if shard.started)

    def caught_up(self) -> bool:
        """Nothing left to read for now: every shard answered ``quiet_empty_pages`` consecutive empty pages
        (or waits for a parent that is still open), and no shard closed since the last ``DescribeStream``."""
        return not self._describe_needed and all(self._shard_caught_up(s) for s in self._shards.values())

    def restart_quiet(self) -> None:
        """Count consecutive empty pages afresh: records may have been written since the last pass, so a
        shard is caught up again only after ``quiet_empty_pages`` more empty pages (a drain starts)."""
        for shard in self._shards.values():
            shard.empty_streak = 0

    def take_pending(self) -> list[dict[str, Any]]:
        """Every pending record, shard by shard, handed over (the buffers are emptied)."""
        records: list[dict[str, Any]] = []
        for shard in self._shards.values():
            records += shard.pending
            shard.pending = []
        return records

    def lag(self) -> list[str]:
        """What is still in flight on the stream, one line per shard that is not done."""
        lines = []
        for shard in self._shards.values():
            if shard.pending:
                count = len(shard.pending)
                lines.append(f"stream shard {shard.shard_id}: {count} records read, not yet handled")
            elif not self._shard_caught_up(shard):
                lines.append(f"stream shard {shard.shard_id}: {self._shard_state(shard)}")
        if self._describe_needed:
            lines.append("stream: a shard closed and DescribeStream has not been read since")
        return lines

    # -- shard set ----------------------------------------------------------------------------------------

    def _describe(self) -> None:
        self._describe_needed = False
        last: str | None = None
        while True:
            if last is None:
                response = self.streams.describe_stream(StreamArn=self.stream_arn)
            else:
                response = self.streams.describe_stream(StreamArn=self.stream_arn, ExclusiveStartShardId=last)
            self.describe_calls += 1
            description = response["StreamDescription"]
            self._add_shards(description)
            last = description.get("LastEvaluatedShardId")
            if not last:
                return

    def _add_shards(self, description: Mapping[str, Any]) -> None:
        for listed in description.get("Shards", []):
            shard_id = listed["ShardId"]
            if shard_id not in self._shards and shard_id not in self._retired:
                self._shards[shard_id] = Shard(shard_id, listed.get("ParentShardId"))

    def _retire_finished(self) -> None:
        for shard in list(self._shards.values()):
            if shard.ended and not shard.pending:
                del self._shards[shard.shard_id]
                self._retired.add(shard.shard_id)
                logger.debug("stream %s: shard %s closed, read and handled: retired", self.stream_arn, shard)

    def _start_ready(self) -> None:
        for shard in self._shards.values():
            if not shard.started and self._parent_done(shard):
                shard.iterator = self._iterator(shard.shard_id, "TRIM_HORIZON")
                shard.started = True
                shard.ended = shard.iterator is None

    def _parent_done(self, shard: Shard) -> bool:
        # A parent the stream no longer lists (trimmed after 24 hours) counts as done.
        return shard.parent_id is None or shard.parent_id not in self._shards

    def _shard_caught_up(self, shard: Shard) -> bool:
        if not shard.started:
            parent = self._shards.get(shard.parent_id or "")
            return parent is not None and not parent.ended  # the open parent decides
        if shard.ended:
            return False  # to be retired (and its children started) by the next pass
        return shard.empty_streak >= self.settings.quiet_empty_pages

    def _shard_state(self, shard: Shard) -> str:
        if not shard.started:
            return f"waiting for its parent {shard.parent_id} to be handled"
        if shard.ended:
            return "closed and read; its children start on the next pass"
        return (
            f"{shard.empty_streak} of {self.settings.quiet_empty_pages} consecutive empty pages since its "
            "last record"
        )

    # -- reading ------------------------------------------------------------------------------------------

    def _read(self, shard: Shard) -> int:
        arrived = empties = pages = renewals = 0
        settings = self.settings
        while shard.iterator is not None and empties < settings.empty_pages_per_pass:
            if pages >= settings.pages_per_pass:
                break
            page = self._get_records(shard)
            if page is None:
                renewals += 1
                if renewals > MAX_RENEWALS_PER_PASS:
                    raise StreamReadError(
                        f"stream {self.stream_arn} shard {shard.shard_id}: GetRecords failed again after "
                        f"{MAX_RENEWALS_PER_PASS} fresh iterators ({self.renewals[-1].reason}); the stream "
                        "cannot be read on"
                    )
                continue
            pages += 1
            records = _after(page.get("Records", []), shard.last_sequence)
            shard.iterator = page.get("NextShardIterator")
            if records:
                shard.pending += [dict(record) for record in records]
                shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
                shard.empty_streak = 0
                arrived += len(records)
                continue
            empties += 1
            shard.empty_streak += 1
            if arrived or shard.empty_streak >= settings.quiet_empty_pages:
                break  # caught up for this pass: come back on the next one
        if shard.iterator is None and not shard.ended:
            shard.ended = True
            self._describe_needed = True  # a closed shard: its children are listed now
        return arrived

    def _get_records(self, shard: Shard) -> GetRecordsOutputTypeDef | None:
        """One page, or None when the iterator had to be replaced (expired, or its position trimmed)."""
        assert shard.iterator is not None
        try:
            return self.streams.get_records(ShardIterator=shard.iterator, Limit=self.settings.page_limit)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code not in RENEWABLE_ERRORS:
                raise
            self._renew(shard, code)
            return None

    def _renew(self, shard: Shard, reason: str) -> None:
        if shard.last_sequence is None:
            shard.iterator = self._iterator(shard.shard_id, "TRIM_HORIZON")
            self._log_renewal(shard, reason, None)
            return
        try:
            shard.iterator = self._iterator(shard.shard_id, "AFTER_SEQUENCE_NUMBER", shard.last_sequence)
            self._log_renewal(shard, reason, shard.last_sequence)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TrimmedDataAccessException":
                raise
            logger.error(
                "stream %s shard %s: the last record read (%s) is past the trim horizon; records between it "
                "and TRIM_HORIZON are lost; reading on from TRIM_HORIZON",
                self.stream_arn,
                shard.shard_id,
                shard.last_sequence,
            )
            shard.iterator = self._iterator(shard.shard_id, "TRIM_HORIZON")
            self._log_renewal(shard, reason, None)

    def _log_renewal(self, shard: Shard, reason: str, after: str | None) -> None:
        self.renewals.append(IteratorRenewal(shard.shard_id, reason, after))
        position = f"AFTER_SEQUENCE_NUMBER {after}" if after else "TRIM_HORIZON (nothing read from it yet)"
        logger.warning(
            "stream %s shard %s: %s; new iterator %s", self.stream_arn, shard.shard_id, reason, position
        )

    def _iterator(self, shard_id: str, kind: str, sequence: str | None = None) -> str | None:
        if sequence is None:
            response = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType=kind,  # type: ignore[arg-type]
            )
        else:
            response = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType=kind,  # type: ignore[arg-type]
                SequenceNumber=sequence,
            )
        return response.get("ShardIterator")


class StreamSource:
    """The stream -> handler event source mapping: batches of one shard's pending records, in order."""

    def __init__(
        self,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        handler: Handler,
        *,
        on_failure: Callable[[list[dict[str, Any]], str], None],
        region: str,
        settings: StreamSourceSettings | None = None,
        description: Mapping[str, Any] | None = None,
    ) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.handler = handler
        self.on_failure = on_failure
        self.region = region
        self.settings = settings or StreamSourceSettings()
        self.reader = ShardReader(streams, stream_arn, settings=self.settings, description=description)
        self.records_read = 0
        self._attempts: dict[str, int] = {}
        self._limits: dict[str, int] = {}

    def read(self) -> int:
        """One pass of the shard reader; returns how many records arrived."""
        arrived = self.reader.poll()
        self.records_read += arrived
        return arrived

    def in_flight(self) -> bool:
        """Records read and not yet handled."""
        return any(shard.pending for shard in self.reader.shards)

    def caught_up(self) -> bool:
        return self.reader.caught_up()

    def restart_quiet(self) -> None:
        self.reader.restart_quiet()

    def lag(self) -> list[str]:
        return self.reader.lag()

    def invoke_once(self) -> Invocation | None:
        """Run the handler on the next batch of the first shard with pending records, if any."""
        shard = self._next_shard()
        if shard is None:
            return None
        batch = shard.pending[: self._limits.get(shard.shard_id, self.settings.batch_size)]
        try:
            response = self.handler(
                lambda_stream_event(batch, stream_arn=self.stream_arn, region=self.region), None
            )
        except Exception as error:  # what Lambda sees as a function error: the whole batch is retried
            logger.warning("stream handler failed on %d records: %s", len(batch), error)
            self._function_error(shard, batch, str(error))
            return Invocation("stream", len(batch), (), f"{type(error).__name__}: {error}")
        failed = tuple(str(item["itemIdentifier"]) for item in response.get("batchItemFailures", []))
        self._checkpoint(shard, batch, failed)
        return Invocation("stream", len(batch), failed)

    def _next_shard(self) -> Shard | None:
        """The first shard with pending records, once records past ``max_record_age`` went to on-failure."""
        while (shard := next((shard for shard in self.reader.shards if shard.pending), None)) is not None:
            expired = [r for r in shard.pending if _age(r) > self.settings.max_record_age >= 0]
            if not expired:
                return shard
            for record in expired:
                shard.pending.remove(record)
                self._attempts.pop(record["dynamodb"]["SequenceNumber"], None)
            age = self.settings.max_record_age
            self.on_failure(expired, f"older than MaximumRecordAgeInSeconds ({age} s)")
        return None

    def _checkpoint(self, shard: Shard, batch: list[dict[str, Any]], failed: tuple[str, ...]) -> None:
        self._limits.pop(shard.shard_id, None)
        if not failed:
            del shard.pending[: len(batch)]
            return
        lowest = min(failed, key=int)
        position = next((i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] == lowest), 0)
        del shard.pending[:position]  # everything before the lowest failure is done
        self._count_attempt(shard, shard.pending[:1], "the handler reported it failed on every attempt")

    def _function_error(self, shard: Shard, batch: list[dict[str, Any]], error: str) -> None:
        if self.settings.bisect_on_error and len(batch) > 1:
            self._limits[shard.shard_id] = max(1, len(batch) // 2)
            return
        self._count_attempt(shard, batch, f"handler error: {error}")

    def _count_attempt(self, shard: Shard, records: list[dict[str, Any]], reason: str) -> None:
        for record in records:
            sequence = record["dynamodb"]["SequenceNumber"]
            self._attempts[sequence] = self._attempts.get(sequence, 0) + 1
            if self._attempts[sequence] > self.settings.max_retries:
                shard.pending.remove(record)
                self._attempts.pop(sequence)
                self.on_failure([record], reason)


def _age(record: dict[str, Any]) -> float:
    """Seconds since the record was written (``ApproximateCreationDateTime``: a datetime from boto3, or
    epoch seconds); 0 when the record does not say."""
    created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        return time.time() - created.timestamp()
    if isinstance(created, (int, float)):
        return time.time() - float(created)
    return 0.0


def _after(records: Sequence[Any], last_sequence: str | None) -> list[Any]:
    """The records past ``last_sequence``. LocalStack 4.0.3's Kinesis-backed streams hand a shard's only
    record again on every ``NextShardIterator`` when it carries the shard's starting sequence number; a
    record read once is never read twice, so such a page counts as empty and the reader moves on."""
    if last_sequence is None:
        return list(records)
    floor = int(last_sequence)
    return [record for record in records if int(record["dynamodb"]["SequenceNumber"]) > floor]


def failure_message(records: list[dict[str, Any]], reason: str) -> str:
    """The body sent to a stream's on-failure queue: the records themselves, and why they gave up."""
    return json.dumps({"reason": reason, "records": records}, default=str)


def read_stream_records(
    streams: DynamoDBStreamsClient, stream_arn: str, *, settings: StreamSourceSettings | None = None
) -> list[dict[str, Any]]:
    """Every record currently in the stream, over every shard (parents before children), oldest first
    (``GetRecords`` shape): the shard reader's passes until it is caught up."""
    reader = ShardReader(streams, stream_arn, settings=settings)
    records: list[dict[str, Any]] = []
    while True:
        reader.poll()
        records += reader.take_pending()
        if reader.caught_up():
            return sorted(records, key=lambda record: int(record["dynamodb"]["SequenceNumber"]))
