"""Trusted reverse proxies: the one place that decides the client's address and scheme.

A request's X-Forwarded-For / X-Forwarded-Proto headers are honoured only when the
connection comes from an address listed in TRUSTED_PROXIES (addresses or networks;
empty by default, so nothing is honoured). Anyone else can write those headers, so
for them the peer address stands.

Behind trusted proxies, X-Forwarded-For is read from the right: each proxy appends
the address it saw, so the rightmost address that is not a trusted proxy is the
client (the entries to its left were written by the client itself). The nearest
proxy's X-Forwarded-Proto (its rightmost value) gives the scheme. From anyone else the
headers are removed from the request before the application sees it.

`TrustedProxyMiddleware` wraps the whole ASGI application (whatsapp_ia/asgi.py), so
Django (REMOTE_ADDR, request.is_secure()), django-axes and the websockets all see
the same address. The web server must not apply the headers itself: Daphne's
--proxy-headers trusts every peer, and whatsapp_ia.server refuses it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

FORWARDED_FOR = b"x-forwarded-for"
FORWARDED_PROTO = b"x-forwarded-proto"
FORWARDED_HEADERS = frozenset({FORWARDED_FOR, FORWARDED_PROTO, b"x-forwarded-port", b"x-real-ip"})
SCHEMES = {"http": ("http", "https"), "websocket": ("ws", "wss")}


def parse_trusted_proxies(values: Iterable[str]) -> tuple[Network, ...]:
    """TRUSTED_PROXIES entries ("10.0.0.5", "172.16.0.0/12", "::1") as networks; a bad entry is a clear error."""
    networks = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {text!r} is not an IP address or network (e.g. 10.0.0.5 or 172.16.0.0/12)"
            ) from exc
    return tuple(networks)


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_trusted_proxies(values)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An X-Forwarded-For entry as an address: "1.2.3.4", "1.2.3.4:5678", "[2001:db8::1]:80", "2001:db8::1"."""
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address.version == n.version and address in n for n in networks)


def forwarded_client(*, peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The client's address: the peer, unless the peer is a trusted proxy and X-Forwarded-For says more.

    `forwarded_for` is every X-Forwarded-For header's value in order (each may hold a comma list).
    Walking from the right, the first address that is not a trusted proxy is the client; an entry
    that is not an address stops the walk at the last address known good.
    """
    peer_address = _address(peer) if peer else None
    if not _trusted(peer_address, trusted):
        return peer
    client = peer
    entries = [entry for value in forwarded_for for entry in value.split(",") if entry.strip()]
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            break
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client


def forwarded_scope(scope: Scope, *, trusted: Sequence[Network]) -> Scope:
    """A copy of an HTTP or websocket scope with the client and scheme the trusted proxies vouch for.

    From a peer that is not a trusted proxy the forwarding headers are dropped (nothing downstream
    may read what any client can write); from a trusted proxy they stay, for the record."""
    client = scope.get("client")
    peer = client[0] if client else None
    headers = scope.get("headers") or []
    if not _trusted(_address(peer) if peer else None, trusted):
        return {**scope, "headers": [(k, v) for k, v in headers if k.lower() not in FORWARDED_HEADERS]}
    forwarded_for = [v.decode("latin-1") for k, v in headers if k.lower() == FORWARDED_FOR]
    protos = [v.decode("latin-1") for k, v in headers if k.lower() == FORWARDED_PROTO]
    new = dict(scope)
    address = forwarded_client(peer=peer, forwarded_for=forwarded_for, trusted=trusted)
    if address != peer:
        new["client"] = (address, 0)
    proto = protos[-1].split(",")[-1].strip().lower() if protos else ""
    plain, secure = SCHEMES.get(scope["type"], ("http", "https"))
    if proto in ("http", "https"):
        new["scheme"] = secure if proto == "https" else plain
    return new


class TrustedProxyMiddleware:
    """ASGI middleware: applies `forwarded_scope` with settings.TRUSTED_PROXIES to every HTTP and websocket scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in SCHEMES:
            scope = forwarded_scope(scope, trusted=_networks(tuple(settings.TRUSTED_PROXIES)))
        await self.app(scope, receive, send)
