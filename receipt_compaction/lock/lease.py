"""A lease per collection in DynamoDB, with heartbeat and a fencing token.

Item: ``PK = LOCK#{collection}``, ``SK = LOCK``, with ``owner``, ``expires_at`` (epoch ms), ``fencing_token``
and ``time_to_live`` (epoch s, for the table's TTL). Acquire is one conditional UpdateItem (no owner, or
expired) that also adds 1 to the token, so tokens increase across owners forever (release never deletes the
item).
Heartbeat and release are conditioned on owner *and* token: a stale owner can neither extend nor end the
new owner's lease. A heartbeat that finds the lease gone, or cannot renew it before it expires, sets
``lost``; ``check()`` then refuses the publish. The lease only saves wasted work: the conditional pointer
write is the real safety net.

``wait_for_lease`` polls a busy lease (exponential backoff with full jitter) for as long as its caller's
budget allows, so contention costs time inside one invocation instead of an SQS receive per attempt.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from receipt_compaction.observe import emit

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "Lease",
    "LeaseBusy",
    "LeaseLost",
    "acquire_lease",
    "expire_lease",
    "lock_key",
    "wait_for_lease",
]

logger = logging.getLogger(__name__)

TTL_SLACK_SECONDS = 24 * 3600
FIRST_POLL_PAUSE = 0.05
MAX_POLL_PAUSE = 0.5
"""A waiter sleeps a random time up to 50 ms, then up to 100 ms, ... up to 500 ms between attempts (full
jitter): waiters spread out instead of retrying together, and a released lease is seen within half a
second, before the process that released it has usually received its next batch."""


class LeaseBusy(RuntimeError):
    """Another owner holds an unexpired lease on the collection."""


class LeaseLost(RuntimeError):
    """This owner's lease expired or was taken over; it must not publish."""


def lock_key(collection: str) -> dict[str, Any]:
    return {"PK": {"S": f"LOCK#{collection}"}, "SK": {"S": "LOCK"}}


def expire_lease(dynamodb: DynamoDBClient, table_name: str, collection: str) -> None:
    """Make the collection's lease run out now, as time does for an owner that died or stalled holding it
    (local runs and tests; a collection never locked has no item and is left alone)."""
    with contextlib.suppress(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.update_item(
            TableName=table_name,
            Key=lock_key(collection),
            UpdateExpression="SET expires_at = :past",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":past": {"N": "1"}},
        )


def _now_ms() -> int:
    return int(time.time() * 1000)


def acquire_lease(
    dynamodb: DynamoDBClient,
    table_name: str,
    collection: str,
    *,
    duration: float = 120.0,
    heartbeat_interval: float | None = None,
    owner: str | None = None,
) -> Lease:
    """Take the collection's lease or raise LeaseBusy; the heartbeat starts at once."""
    owner = owner or f"compactor-{uuid.uuid4().hex}"
    now = _now_ms()
    expires = now + int(duration * 1000)
    try:
        response = dynamodb.update_item(
            TableName=table_name,
            Key=lock_key(collection),
            UpdateExpression=(
                "SET #owner = :owner, expires_at = :expires, time_to_live = :ttl ADD fencing_token :one"
            ),
            ConditionExpression="attribute_not_exists(#owner) OR expires_at < :now",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={
                ":owner": {"S": owner},
                ":expires": {"N": str(expires)},
                ":ttl": {"N": str(expires // 1000 + TTL_SLACK_SECONDS)},
                ":one": {"N": "1"},
                ":now": {"N": str(now)},
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            emit("lease.busy", collection=collection, owner=owner)
            raise LeaseBusy(f"the {collection!r} collection is being compacted by another owner") from None
        raise
    token = int(response["Attributes"]["fencing_token"]["N"])
    emit("lease.acquired", collection=collection, owner=owner, token=token)
    lease = Lease(
        dynamodb, table_name, collection, owner=owner, token=token, duration=duration, expires_ms=expires
    )
    lease.start_heartbeat(heartbeat_interval if heartbeat_interval is not None else duration / 4)
    return lease


def wait_for_lease(
    dynamodb: DynamoDBClient,
    table_name: str,
    collection: str,
    *,
    budget: Callable[[], float],
    duration: float = 120.0,
    heartbeat_interval: float | None = None,
    owner: str | None = None,
    first_pause: float = FIRST_POLL_PAUSE,
    max_pause: float = MAX_POLL_PAUSE,
    rng: random.Random | None = None,
) -> Lease:
    """Take the collection's lease, polling while another owner holds it.

    ``budget()`` says how many seconds the caller may still spend waiting (for a Lambda, its remaining time
    minus what compacting and publishing need); it is asked before every pause, and no pause outlasts it.
    Once it is spent the last ``LeaseBusy`` is raised, saying how long and how often it tried.
    """
    owner = owner or f"compactor-{uuid.uuid4().hex}"
    draw = (rng or random.Random()).uniform
    started = time.monotonic()
    attempts = 0
    ceiling = first_pause
    while True:
        attempts += 1
        try:
            lease = acquire_lease(
                dynamodb,
                table_name,
                collection,
                duration=duration,
                heartbeat_interval=heartbeat_interval,
                owner=owner,
            )
        except LeaseBusy as busy:
            left = budget()
            if left <= 0:
                waited = time.monotonic() - started
                raise LeaseBusy(
                    f"{busy} (still busy after waiting {waited:.1f} s, {attempts} attempts: the "
                    "invocation's time for waiting is spent)"
                ) from None
            time.sleep(min(draw(0, ceiling), left))
            ceiling = min(ceiling * 2, max_pause)
            continue
        if attempts > 1:
            logger.info(
                "lease on %r taken after %.2f s and %d attempts",
                collection,
                time.monotonic() - started,
                attempts,
            )
        return lease


class Lease:
    """A held lease; use it with ``with`` so it is always released."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table_name: str,
        collection: str,
        *,
        owner: str,
        token: int,
        duration: float,
        expires_ms: int,
    ) -> None:
        self.dynamodb = dynamodb
        self.table_name = table_name
        self.collection = collection
        self.owner = owner
        self.token = token
        self.duration = duration
        self.expires_ms = expires_ms
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # -- heartbeat ----------------------------------------------------------------------------------------

    def start_heartbeat(self, interval: float) -> None:
        if interval <= 0:
            return
        self._thread = threading.Thread(
            target=self._beat, args=(interval,), name=f"lease-{self.collection}", daemon=True
        )
        self._thread.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if not self.heartbeat():
                return

    def heartbeat(self) -> bool:
        """Extend the lease, conditioned on still owning it; False (and ``lost`` set) once it is gone."""
        if self.lost.is_set():
            return False
        expires = _now_ms() + int(self.duration * 1000)
        try:
            self._update_owned(
                "SET expires_at = :expires, time_to_live = :ttl",
                {
                    ":expires": {"N": str(expires)},
                    ":ttl": {"N": str(expires // 1000 + TTL_SLACK_SECONDS)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                logger.warning("lease on %r lost to another owner", self.collection)
                emit("lease.lost", collection=self.collection, token=self.token, reason="heartbeat refused")
                self.lost.set()
                return False
            return self._survive(error)
        except BotoCoreError as error:
            return self._survive(error)
        self.expires_ms = expires
        return True

    def _survive(self, error: Exception) -> bool:
        """A heartbeat that failed for another reason: the lease holds until it would expire."""
        logger.warning("lease heartbeat on %r failed: %s", self.collection, error)
        if _now_ms() >= self.expires_ms:
            self.lost.set()
            return False
        return True

    # -- checks and release -------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise LeaseLost unless this owner still holds the lease, read consistently from the table."""
        if self.lost.is_set() or _now_ms() >= self.expires_ms:
            self.lost.set()
            emit("lease.lost", collection=self.collection, token=self.token, reason="expired or lost")
            raise LeaseLost(f"the lease on {self.collection!r} (token {self.token}) expired or was lost")
        item = self.dynamodb.get_item(
            TableName=self.table_name, Key=lock_key(self.collection), ConsistentRead=True
        ).get("Item", {})
        owner = item.get("owner", {}).get("S")
        token = int(item.get("fencing_token", {}).get("N", "0"))
        if owner != self.owner or token != self.token:
            self.lost.set()
            emit("lease.lost", collection=self.collection, token=self.token, reason=f"now token {token}")
            raise LeaseLost(
                f"the lease on {self.collection!r} now belongs to token {token}, not {self.token}"
            )
        if int(item.get("expires_at", {}).get("N", "0")) <= _now_ms():
            self.lost.set()
            emit("lease.lost", collection=self.collection, token=self.token, reason="expired in the table")
            raise LeaseLost(f"the lease on {self.collection!r} (token {self.token}) expired in the table")

    def release(self) -> None:
        """Stop the heartbeat and end the lease if it is still ours (the item and its token stay)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.lost.is_set():
            return
        emit("lease.released", collection=self.collection, token=self.token)
        try:
            self._update_owned("REMOVE #owner SET expires_at = :zero", {":zero": {"N": "0"}})
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                logger.warning("releasing the lease on %r failed: %s", self.collection, error)
        self.lost.set()

    def _update_owned(self, expression: str, values: dict[str, Any]) -> None:
        self.dynamodb.update_item(
            TableName=self.table_name,
            Key=lock_key(self.collection),
            UpdateExpression=expression,
            ConditionExpression="#owner = :me AND fencing_token = :token",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":me": {"S": self.owner}, ":token": {"N": str(self.token)}, **values},
        )
