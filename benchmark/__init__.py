"""Benchmark harness: trackers, metrics, model adapters, suites and the leaderboard."""
