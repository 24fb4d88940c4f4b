"""Benchmarks: ratios against baselines measured in the same run (not part of the test suite)."""
