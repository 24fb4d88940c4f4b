"""The hook through which other packages add stage actions.

Example (in a conftest.py or a plugin of your own)::

    from receipt_compaction.harness.scenarios.actions import StageAction

    def pytest_receipt_compaction_stage_actions():
        def run(context, argument):
            context.pipeline.drain()  # anything: the context has the pipeline, receipts, the last report
        return [StageAction("settle", "Drain twice.", {"type": "null"}, run)]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from receipt_compaction.harness.scenarios.actions import StageAction

__all__ = ["pytest_receipt_compaction_stage_actions"]


@pytest.hookspec
def pytest_receipt_compaction_stage_actions() -> list[StageAction]:  # type: ignore[empty-body]
    """Return stage actions to add to the scenario vocabulary (names must not clash with built-in ones)."""
