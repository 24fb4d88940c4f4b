"""What this repository's ``tests/`` and ``scenarios/`` share: lanes and the ``slow`` mark.

A *lane* is the backend a session runs on (``--receipt-compaction-backend``: ``moto``, ``dynamodb-local``,
``localstack``, ``aws``). Some tests rely on what only some backends do, e.g. stream records readable the
moment the write returns (moto, DynamoDB Local) or a MODIFY record for an identical put (moto). Mark them:

    @pytest.mark.lanes("moto", "dynamodb-local", reason="reads the stream once, right after writing")
    @pytest.mark.moto_only(reason="moto writes a MODIFY record for an identical put")

On any other lane they are skipped with one line naming the lanes they need and the one this session runs on.
``slow`` marks tests that take seconds each: ``pytest tests -m "not slow"`` is the quick run; the default run
still runs everything. Nothing here is for downstream users: the plugin gives them what they need.
"""

from __future__ import annotations

import pytest

from pytest_receipt_compaction.plugin import harness_settings
from receipt_compaction.harness.settings import OPTIONS

LANES: tuple[str, ...] = next(option.choices for option in OPTIONS if option.name == "backend")
"""Every lane there is: the values ``--receipt-compaction-backend`` accepts."""

_MARKERS = (
    f"lanes(*names, reason=None): run only on these backends ({', '.join(LANES)}); "
    "skipped with one line on the others",
    "moto_only(reason=None): relies on behaviour only moto has; lanes('moto')",
    "slow: takes seconds; deselect with -m 'not slow' for a quick run",
)


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests meant for other lanes (the skip line points at the test, not at this file)."""
    if not config.pluginmanager.has_plugin("receipt_compaction"):
        return  # no plugin, no backend: the tests themselves say what they miss
    lane = harness_settings(config).backend
    for item in items:
        marks = _lane_marks(item)
        if not marks or _problem(marks):
            continue  # a bad mark fails the test at setup, below
        wanted = set.intersection(*(names for names, _ in marks))
        if lane not in wanted:
            reasons = "; ".join(reason for _, reason in marks if reason)
            why = f" ({reasons})" if reasons else ""
            needs = " or ".join(sorted(wanted))
            item.add_marker(pytest.mark.skip(reason=f"needs lane {needs}{why}; this session runs on {lane}"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A lanes mark naming an unknown lane (a typo) fails its test, saying which lanes there are."""
    marks = _lane_marks(item)
    problem = _problem(marks) if marks else None
    if problem:
        pytest.fail(f"{item.nodeid}: {problem}; known lanes: {', '.join(LANES)}", pytrace=False)


def _lane_marks(item: pytest.Item) -> list[tuple[set[str], str | None]]:
    """Every ``lanes``/``moto_only`` mark of the item (test, class, module): lanes it allows, its reason."""
    marks: list[tuple[set[str], str | None]] = []
    for mark in item.iter_markers():
        if mark.name in ("lanes", "moto_only"):
            names = set(mark.args) if mark.name == "lanes" else {"moto"}
            marks.append((names, mark.kwargs.get("reason")))
    return marks


def _problem(marks: list[tuple[set[str], str | None]]) -> str | None:
    if any(not names for names, _ in marks):
        return "a lanes mark needs at least one lane, e.g. @pytest.mark.lanes('moto')"
    unknown = sorted(set().union(*(names for names, _ in marks)) - set(LANES))
    if unknown:
        return f"lanes mark names unknown lane(s) {', '.join(map(repr, unknown))}"
    if not set.intersection(*(names for names, _ in marks)):
        return "its lanes marks allow no lane together"
    return None
