"""Where the repository's own files are, for tests that read them (README, scenarios, CI script)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EVENTS", "REPO", "SCENARIOS"]

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
EVENTS = REPO / "tests" / "events"
