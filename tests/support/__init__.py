"""Helpers the tests share: builders, a world of real resources, the JSON events under ``tests/events``,
lane marks and hypothesis strategies. Never fixtures (those live in ``conftest.py`` files)."""
