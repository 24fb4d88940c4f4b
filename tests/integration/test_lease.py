"""The lease lock on a real DynamoDB table: busy, release, expiry, takeover, fencing tokens, heartbeat."""

from __future__ import annotations

import time

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.lock import LeaseBusy, LeaseLost, acquire_lease, expire_lease, lock_key
from tests.support.resources import Table


def item(clients: AwsClients, table: Table) -> dict[str, dict[str, str]]:
    found = clients.dynamodb.get_item(TableName=table.name, Key=lock_key("words"), ConsistentRead=True)
    return found.get("Item", {})  # type: ignore[return-value]


def expire(clients: AwsClients, table: Table) -> None:
    """Let the lease run out, as if its owner had stalled past its expiry."""
    expire_lease(clients.dynamodb, table.name, "words")


def test_a_held_lease_is_busy_for_others_and_tokens_increase(aws_clients: AwsClients, table: Table) -> None:
    first = acquire_lease(aws_clients.dynamodb, table.name, "words", heartbeat_interval=0)
    with pytest.raises(LeaseBusy, match="'words' collection is being compacted by another owner"):
        acquire_lease(aws_clients.dynamodb, table.name, "words", heartbeat_interval=0)
    lines = acquire_lease(
        aws_clients.dynamodb, table.name, "lines", heartbeat_interval=0
    )  # another collection
    first.check()
    first.release()
    assert "owner" not in item(aws_clients, table)  # released, but the item (and its token) stays
    second = acquire_lease(aws_clients.dynamodb, table.name, "words", heartbeat_interval=0)
    assert second.token == first.token + 1
    stored = item(aws_clients, table)
    assert stored["owner"]["S"] == second.owner
    assert int(stored["time_to_live"]["N"]) > time.time()  # the table's TTL can clean up abandoned items
    second.release()
    lines.release()


def test_expiry_takeover_and_a_stale_owner_cannot_extend_or_end_the_new_lease(
    aws_clients: AwsClients, table: Table
) -> None:
    stale = acquire_lease(aws_clients.dynamodb, table.name, "words", heartbeat_interval=0)
    expire(aws_clients, table)
    fresh = acquire_lease(aws_clients.dynamodb, table.name, "words", heartbeat_interval=0)
    assert fresh.token > stale.token
    before = item(aws_clients, table)
    assert stale.heartbeat() is False
    assert stale.lost.is_set()
    assert item(aws_clients, table) == before  # the stale heartbeat changed nothing
    with pytest.raises(LeaseLost):
        stale.check()
    stale.release()
    assert item(aws_clients, table)["owner"]["S"] == fresh.owner  # nor did its release
    fresh.check()
    assert fresh.heartbeat() is True
    assert int(item(aws_clients, table)["expires_at"]["N"]) >= int(before["expires_at"]["N"])
    fresh.release()


def test_an_expired_lease_fails_its_own_check_even_before_anyone_takes_it(
    aws_clients: AwsClients, table: Table
) -> None:
    lease = acquire_lease(aws_clients.dynamodb, table.name, "words", duration=60, heartbeat_interval=0)
    lease.expires_ms = 0  # its owner stalled past the expiry it knows of
    with pytest.raises(LeaseLost, match="expired or was lost"):
        lease.check()


def test_the_background_heartbeat_extends_the_lease(aws_clients: AwsClients, table: Table) -> None:
    with acquire_lease(
        aws_clients.dynamodb, table.name, "words", duration=30, heartbeat_interval=0.05
    ) as lease:
        first = int(item(aws_clients, table)["expires_at"]["N"])
        deadline = time.monotonic() + 10
        while int(item(aws_clients, table)["expires_at"]["N"]) == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert int(item(aws_clients, table)["expires_at"]["N"]) > first
        assert not lease.lost.is_set()
    assert "owner" not in item(aws_clients, table)


def test_a_lease_the_table_says_has_expired_fails_its_check(aws_clients: AwsClients, table: Table) -> None:
    lease = acquire_lease(aws_clients.dynamodb, table.name, "words", duration=60, heartbeat_interval=0)
    expire(aws_clients, table)  # still its owner and token, but run out: it must not publish
    with pytest.raises(LeaseLost, match="expired in the table"):
        lease.check()
