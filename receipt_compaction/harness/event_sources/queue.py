"""The local SQS event source: a queue received from the way a Lambda event source mapping does, invoking a
handler with Lambda SQS events. Successes are deleted, failures are made visible again (at once by default),
and the queue's own redrive policy moves poison messages to its DLQ."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from receipt_compaction.harness.deployment import deployed_settings
from receipt_compaction.harness.event_sources.invocation import Handler, Invocation
from receipt_compaction.harness.lambda_events import lambda_sqs_event

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["QueueSource"]

logger = logging.getLogger(__name__)


class QueueSource:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        handler: Handler,
        *,
        name: str,
        batch_size: int | None = None,
        retry_after: int = 0,
        region: str,
        queue_arn: str | None = None,
        on_first_release: Callable[[], None] | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.name = name
        self.batch_size = deployed_settings().sqs_batch_size if batch_size is None else batch_size
        """The deployed SQS mapping's BatchSize unless given; above 10, several receives fill a batch."""
        self.retry_after = retry_after
        self.region = region
        self.first_deliveries = 0
        self.queue_arn = (
            queue_arn
            or sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        )
        self.released = False
        """Whether this source ever gave a message back undeleted (failed, or its invocation died): until
        then no message of the queue has a receive it did not finish, so SQS can have moved none to a DLQ."""
        self.on_first_release = on_first_release
        """Called once, just before the first message is given back (and so before any redrive can follow)."""

    def in_flight(self) -> bool:
        return any(self.depth())

    def depth(self) -> tuple[int, int]:
        """How many messages the queue holds: ``(visible, not visible)`` (SQS's approximate counts)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes.get("ApproximateNumberOfMessages", 0)),
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def lag(self) -> list[str]:
        """What is still in flight on the queue, as one line (none when it is empty)."""
        visible, invisible = self.depth()
        if not visible and not invisible:
            return []
        return [
            f"queue {self.name}: {visible} messages waiting, {invisible} received and not yet visible again"
        ]

    def invoke_once(self) -> Invocation | None:
        messages = self._receive()
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

    def _receive(self) -> list[Any]:
        """Up to ``batch_size`` messages: ReceiveMessage returns at most 10 a call, as Lambda's poller
        gathers a larger batch from several."""
        messages: list[Any] = []
        while len(messages) < self.batch_size:
            page = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            messages += page
            if len(page) < 10:
                break
        return messages

    def _settle(self, messages: list[Any], failed: set[str]) -> None:
        done = [m for m in messages if m["MessageId"] not in failed]
        again = [m for m in messages if m["MessageId"] in failed]
        if again and not self.released:
            if self.on_first_release is not None:
                self.on_first_release()
            self.released = True
        # SQS takes at most 10 entries a batch call; a batch above 10 (a larger BatchSize) is settled in tens.
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        for start in range(0, len(again), 10):
            # Return failed messages explicitly (at once by default) instead of waiting out the visibility
            # timeout; moto's FIFO queues would otherwise redeliver only the last message of the batch.
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_after}
                    for i, m in enumerate(again[start : start + 10])
                ],
            )
