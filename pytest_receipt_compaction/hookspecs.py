"""The hook through which a ``conftest.py`` or a pytest plugin adds stage actions.

Example (in a conftest.py)::

    from receipt_compaction.harness.scenarios import StageAction

    def pytest_receipt_compaction_stage_actions():
        def run(context, argument):
            context.pipeline.drain()  # anything: the context has the pipeline, receipts, the last report
        return [StageAction("settle", "Drain twice.", {"type": "null"}, run)]

An installed package declares its actions as an entry point of the ``receipt_compaction.stage_actions`` group
instead (``receipt_compaction.harness.scenarios.vocabulary``), so the operator CLI's ``scenarios lint`` knows
them too; the plugin reads both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from receipt_compaction.harness.scenarios.actions import StageAction

__all__ = ["pytest_receipt_compaction_stage_actions"]


@pytest.hookspec
def pytest_receipt_compaction_stage_actions() -> list[StageAction]:  # type: ignore[empty-body]
    """Return stage actions to add to the scenario vocabulary (a name that another action has, built-in,
    installed or from another hook implementation, is a usage error naming both)."""
