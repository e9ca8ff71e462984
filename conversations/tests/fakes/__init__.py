"""Local HTTP servers that speak the providers' APIs, for tests and benchmarks."""

from conversations.tests.fakes.graph import FakeGraph

__all__ = ["FakeGraph"]
