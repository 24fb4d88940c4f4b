"""The pytest plugin of receipt-compaction (entry point ``receipt_compaction``)."""

from __future__ import annotations

from pytest_receipt_compaction.executors import (
    Backend,
    BackendUnavailable,
    ExternalEndpointExecutor,
    MotoServerExecutor,
)
from pytest_receipt_compaction.options import OPTIONS, HarnessSettings

__all__ = [
    "OPTIONS",
    "Backend",
    "BackendUnavailable",
    "ExternalEndpointExecutor",
    "HarnessSettings",
    "MotoServerExecutor",
]
