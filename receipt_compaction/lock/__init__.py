"""The per-collection lease lock (DynamoDB) with heartbeat and fencing token."""

from __future__ import annotations

from receipt_compaction.lock.lease import (
    Lease,
    LeaseBusy,
    LeaseLost,
    acquire_lease,
    expire_lease,
    lock_key,
    wait_for_lease,
)

__all__ = ["Lease", "LeaseBusy", "LeaseLost", "acquire_lease", "expire_lease", "lock_key", "wait_for_lease"]
