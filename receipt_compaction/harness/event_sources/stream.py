"""The local stream event source: a table's DynamoDB stream read the way a Lambda event source mapping reads
it, invoking a handler with Lambda stream events.

On ``batchItemFailures`` it checkpoints before the lowest failed SequenceNumber and retries from there; a
handler error retries the batch (halving it when bisect is on); a record that exhausts its retries goes to an
on-failure destination, never silently away.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from receipt_compaction.harness.event_sources.invocation import Handler, Invocation
from receipt_compaction.harness.lambda_events import lambda_stream_event

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

__all__ = ["StreamSource", "StreamSourceSettings", "failure_message", "read_stream_records"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSourceSettings:
    batch_size: int = 100
    max_retries: int = 3
    bisect_on_error: bool = True


@dataclass
class _Shard:
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    limit: int | None = None


class StreamSource:
    def __init__(
        self,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        handler: Handler,
        *,
        on_failure: Callable[[list[dict[str, Any]], str], None],
        region: str,
        settings: StreamSourceSettings | None = None,
    ) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.handler = handler
        self.on_failure = on_failure
        self.region = region
        self.settings = settings or StreamSourceSettings()
        self.records_read = 0
        self._shards: dict[str, _Shard] = {}

    def read(self) -> int:
        """Fetch every new record of every shard into the pending buffers; returns how many arrived."""
        arrived = 0
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            state = self._shards.get(shard["ShardId"])
            if state is None:
                iterator = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                ).get("ShardIterator")
                state = self._shards[shard["ShardId"]] = _Shard(iterator)
            arrived += self._read_shard(state)
        self.records_read += arrived
        return arrived

    def _read_shard(self, shard: _Shard) -> int:
        arrived = 0
        while shard.iterator:
            page = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
            shard.iterator = page.get("NextShardIterator")
            shard.pending += [dict(record) for record in page["Records"]]
            arrived += len(page["Records"])
            if not page["Records"]:
                break
        return arrived

    def in_flight(self) -> bool:
        return any(shard.pending for shard in self._shards.values())

    def invoke_once(self) -> Invocation | None:
        """Run the handler on the next batch of the first shard with pending records, if any."""
        shard = next((shard for shard in self._shards.values() if shard.pending), None)
        if shard is None:
            return None
        batch = shard.pending[: shard.limit or self.settings.batch_size]
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

    def _checkpoint(self, shard: _Shard, batch: list[dict[str, Any]], failed: tuple[str, ...]) -> None:
        shard.limit = None
        if not failed:
            del shard.pending[: len(batch)]
            return
        lowest = min(failed, key=int)
        position = next((i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] == lowest), 0)
        del shard.pending[:position]  # everything before the lowest failure is done
        self._count_attempt(shard, shard.pending[:1], "the handler reported it failed on every attempt")

    def _function_error(self, shard: _Shard, batch: list[dict[str, Any]], error: str) -> None:
        if self.settings.bisect_on_error and len(batch) > 1:
            shard.limit = max(1, len(batch) // 2)
            return
        self._count_attempt(shard, batch, f"handler error: {error}")

    def _count_attempt(self, shard: _Shard, records: list[dict[str, Any]], reason: str) -> None:
        for record in records:
            sequence = record["dynamodb"]["SequenceNumber"]
            shard.attempts[sequence] = shard.attempts.get(sequence, 0) + 1
            if shard.attempts[sequence] > self.settings.max_retries:
                shard.pending.remove(record)
                shard.attempts.pop(sequence)
                self.on_failure([record], reason)


def failure_message(records: list[dict[str, Any]], reason: str) -> str:
    """The body sent to a stream's on-failure queue: the records themselves, and why they gave up."""
    return json.dumps({"reason": reason, "records": records}, default=str)


def read_stream_records(streams: DynamoDBStreamsClient, stream_arn: str) -> list[dict[str, Any]]:
    """Every record currently in the stream, over every shard, oldest first (``GetRecords`` shape)."""
    records: list[dict[str, Any]] = []
    shards = _all_shards(streams, stream_arn)
    for shard_id in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        ).get("ShardIterator")
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(dict(record) for record in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return sorted(records, key=lambda record: int(record["dynamodb"]["SequenceNumber"]))


def _all_shards(streams: DynamoDBStreamsClient, stream_arn: str) -> list[str]:
    shard_ids: list[str] = []
    last: str | None = None
    while True:
        if last is None:
            description = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
        else:
            description = streams.describe_stream(StreamArn=stream_arn, ExclusiveStartShardId=last)[
                "StreamDescription"
            ]
        shard_ids += [shard["ShardId"] for shard in description.get("Shards", [])]
        last = description.get("LastEvaluatedShardId")
        if not last:
            return shard_ids
