"""A tiny ASGI app for test_server.py: reports what the server process keeps alive."""

from __future__ import annotations

import gc
import json
from typing import Any

SEEN: list[str] = []  # the paths of the requests this application was handed


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    SEEN.append(scope["path"])
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["path"] == "/boom":
        raise RuntimeError("boom from the test app")
    if scope["path"] == "/stats":
        gc.collect()
        live = sum(1 for o in gc.get_objects() if type(o).__name__ == "WebRequest")
        body = json.dumps({"live_requests": live, "frozen": gc.get_freeze_count()}).encode()
    elif scope["path"] == "/seen":
        body = json.dumps(SEEN).encode()
    elif scope["path"] == "/echo":
        body = b"".join(chunks)
    else:
        body = b"ok"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
