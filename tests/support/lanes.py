"""Lane marks the tests share (the marks themselves are registered by the root ``conftest.py``)."""

from __future__ import annotations

import pytest

__all__ = ["STREAM_READ_AT_ONCE"]

STREAM_READ_AT_ONCE = pytest.mark.lanes(
    "moto",
    "dynamodb-local",
    reason="reads the stream once, right after writing; LocalStack and AWS deliver records asynchronously",
)
"""For tests that read a table's stream a single time right after writing, and expect every record there."""
