"""The pytest plugin of receipt-compaction (entry point ``receipt_compaction``)."""

from __future__ import annotations

from receipt_compaction.harness.backends import (
    Backend,
    BackendUnavailable,
    ExternalEndpointExecutor,
    MotoServerExecutor,
)
from receipt_compaction.harness.settings import OPTIONS, HarnessSettings

__all__ = [
    "OPTIONS",
    "Backend",
    "BackendUnavailable",
    "ExternalEndpointExecutor",
    "HarnessSettings",
    "MotoServerExecutor",
]
