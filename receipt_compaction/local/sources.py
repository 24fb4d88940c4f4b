"""Event sources run locally the way AWS's event source mappings run them, against any endpoint.

``StreamSource`` reads every shard of a table's stream and invokes a handler with Lambda stream events: on
``batchItemFailures`` it checkpoints before the lowest failed SequenceNumber and retries from there; a
handler error retries the batch (halving it when bisect is on); a record that exhausts its retries goes to
an on-failure queue, never silently away. ``QueueSource`` receives from an SQS queue and invokes a handler
with Lambda SQS events: successes are deleted, failures are made visible again (at once by default), and
the queue's own redrive policy moves poison messages to its DLQ.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from receipt_compaction.local.queue_source import lambda_sqs_event
from receipt_compaction.local.stream_source import lambda_stream_event

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["Handler", "Invocation", "QueueSource", "StreamSource", "StreamSourceSettings", "failure_message"]

logger = logging.getLogger(__name__)

Handler: TypeAlias = Callable[[dict[str, Any], object], Mapping[str, Any]]
"""A Lambda handler: ``(event, context) -> response``."""


@dataclass(frozen=True)
class Invocation:
    """One handler call: which source, how many records, which item identifiers it reported failed."""

    source: str
    records: int
    failures: tuple[str, ...]
    error: str | None = None


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
        settings: StreamSourceSettings | None = None,
    ) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.handler = handler
        self.on_failure = on_failure
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
            response = self.handler(lambda_stream_event(batch, stream_arn=self.stream_arn), None)
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


class QueueSource:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        handler: Handler,
        *,
        name: str,
        batch_size: int = 10,
        retry_after: int = 0,
        region: str = "us-east-1",
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.name = name
        self.batch_size = batch_size
        self.retry_after = retry_after
        self.region = region
        self.first_deliveries = 0
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def in_flight(self) -> bool:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return any(int(value) for value in attributes.values())

    def invoke_once(self) -> Invocation | None:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return None
        self.first_deliveries += sum(
            m.get("Attributes", {}).get("ApproximateReceiveCount") == "1" for m in messages
        )
        event = lambda_sqs_event(messages, queue_arn=self.queue_arn, region=self.region)
        error = None
        try:
            response = self.handler(event, None)
            failed = {str(item["itemIdentifier"]) for item in response.get("batchItemFailures", [])}
        except Exception as caught:  # a function error: every message of the batch comes back
            logger.warning("%s handler failed on %d messages: %s", self.name, len(messages), caught)
            failed, error = {m["MessageId"] for m in messages}, f"{type(caught).__name__}: {caught}"
        except BaseException:
            # The process died mid-invocation: its messages come back once their visibility timeout ends,
            # which a local run need not wait for.
            self._settle(messages, {m["MessageId"] for m in messages})
            raise
        self._settle(messages, failed)
        return Invocation(self.name, len(messages), tuple(sorted(failed)), error)

    def _settle(self, messages: list[Any], failed: set[str]) -> None:
        done = [m for m in messages if m["MessageId"] not in failed]
        again = [m for m in messages if m["MessageId"] in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if again:
            # Return failed messages explicitly (at once by default) instead of waiting out the visibility
            # timeout; moto's FIFO queues would otherwise redeliver only the last message of the batch.
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_after}
                    for i, m in enumerate(again)
                ],
            )


def failure_message(records: list[dict[str, Any]], reason: str) -> str:
    """The body sent to a stream's on-failure queue: the records themselves, and why they gave up."""
    return json.dumps({"reason": reason, "records": records}, default=str)
