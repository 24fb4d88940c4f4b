"""AWS Lambda entry points (contract): thin wrappers that read settings, build clients, call the library."""

from __future__ import annotations

__all__: list[str] = []
