"""Local HTTP servers that speak the providers' APIs, for tests and benchmarks.

`server.FakeServer` is the base (a real keep-alive HTTP server in a thread); each provider's fake
routes its API on top of it: `graph.FakeGraph` for Meta's Graph API. Outside the test packages
because bench/ imports them too.
"""

from conversations.fakes.graph import FakeGraph
from conversations.fakes.server import FakeServer, Reply, json_reply

__all__ = ["FakeGraph", "FakeServer", "Reply", "json_reply"]
