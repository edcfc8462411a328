"""Metric functions of the benchmark; definitions are in docs/benchmark.md."""
