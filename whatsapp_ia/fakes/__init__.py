"""Local servers that speak third-party APIs, for tests and benchmarks (no network)."""
