"""The pytest plugin of receipt-compaction (entry point ``receipt_compaction``).

``factories`` makes ``compaction_env``/``pipeline`` fixtures with your own settings (FIFO queues, queue
settings, a resource name prefix); the plugin's built-in ones are made by it with the defaults.
"""

from __future__ import annotations

from pytest_receipt_compaction import factories
from receipt_compaction.harness.backends import (
    Backend,
    BackendUnavailable,
    ExternalEndpointExecutor,
    MotoServerExecutor,
)
from receipt_compaction.harness.janitor import CompactionEnv, ResourceOptions
from receipt_compaction.harness.settings import OPTIONS, HarnessSettings

__all__ = [
    "OPTIONS",
    "Backend",
    "BackendUnavailable",
    "CompactionEnv",
    "ExternalEndpointExecutor",
    "HarnessSettings",
    "MotoServerExecutor",
    "ResourceOptions",
    "factories",
]
