"""Websocket routing: the agent console, behind an Origin check and the session.

A refused handshake is accepted and closed at once with a code (4403 foreign Origin, 4401 no
session: conversations/consumers.py), because a browser never sees the code of a handshake
refused before it is accepted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import path

from conversations.consumers import CLOSE_FORBIDDEN_ORIGIN, ConsoleConsumer

websocket_urlpatterns = [path("ws/console/", ConsoleConsumer.as_asgi())]


def origin_allowed(origin: str) -> bool:
    """A browser page's Origin that may open the console: a host of ALLOWED_HOSTS or a
    CSRF_TRUSTED_ORIGINS entry (``https://*.example.com`` patterns too). No Origin: refused."""
    try:
        parts = urlsplit(origin)
        host, _port = split_domain_port(parts.netloc)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if validate_host(host, settings.ALLOWED_HOSTS):
        return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        trusted_parts = urlsplit(trusted)
        if trusted_parts.scheme != parts.scheme:
            continue
        if trusted_parts.netloc == parts.netloc or (
            trusted_parts.netloc.startswith("*.") and parts.netloc.endswith(trusted_parts.netloc[1:])
        ):
            return True
    return False


class OriginGuard:
    """Closes (4403) a websocket whose Origin header is not one of ours, before anything else runs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            origin = dict(scope.get("headers") or []).get(b"origin", b"").decode("latin-1")
            if not origin_allowed(origin):
                await receive()  # websocket.connect
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN_ORIGIN})
                return
        await self.app(scope, receive, send)


websocket_application = OriginGuard(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
