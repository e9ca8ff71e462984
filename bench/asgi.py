"""The benchmark's ASGI entry point: /bench/bare-asgi is answered without Django, the rest by the product.

    DJANGO_SETTINGS_MODULE=bench.settings python -m whatsapp_ia.server bench.asgi:application

All three benchmark targets (bare ASGI, bare Django view, the webhook) run in the
same server process, so their figures differ only by what each layer adds.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from whatsapp_ia.asgi import application as product_application

BARE_PATH = "/bench/bare-asgi"
_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


async def bare_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI callable: read the request body, answer 200 "ok"."""
    more = True
    while more:
        message = await receive()
        more = message.get("type") == "http.request" and message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b"ok"})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == BARE_PATH:
        await bare_asgi(scope, receive, send)
        return
    await product_application(scope, receive, send)
