"""Helpers the tests share (builders, a world of real resources, hypothesis strategies); never fixtures."""
