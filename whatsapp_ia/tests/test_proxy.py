"""whatsapp_ia.proxy: X-Forwarded-* believed from TRUSTED_PROXIES only, read from the right."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from whatsapp_ia.proxy import forwarded_client, forwarded_scope, parse_trusted_proxies

PROXIES = parse_trusted_proxies(["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # A peer that is not a proxy is the client, whatever the header says.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        # A trusted proxy: the rightmost address that is not a proxy (the left part is the client's own writing).
        ("10.0.0.2", ["1.1.1.1, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["1.1.1.1, 198.51.100.1, 10.0.0.9"], "198.51.100.1"),
        ("10.0.0.2", ["1.1.1.1", "198.51.100.1"], "198.51.100.1"),  # two header lines
        ("10.0.0.2", ["198.51.100.1:4711"], "198.51.100.1"),
        ("10.0.0.2", ["[2001:db9::7]:443"], "2001:db9::7"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),  # IPv4-mapped peer
        ("2001:db8::5", ["198.51.100.1"], "198.51.100.1"),
        # Only proxies in the chain: the leftmost of them.
        ("10.0.0.2", ["10.0.0.3, 10.0.0.4"], "10.0.0.3"),
        # No header, or garbage where an address should be: the last address known good.
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, unknown"], "10.0.0.2"),
        ("10.0.0.2", ["unknown, 10.0.0.3"], "10.0.0.3"),
    ],
)
def test_forwarded_client(peer: str, forwarded_for: list[str], client: str) -> None:
    assert forwarded_client(peer=peer, forwarded_for=forwarded_for, trusted=PROXIES) == client


def test_nothing_is_trusted_by_default() -> None:
    assert forwarded_client(peer="10.0.0.2", forwarded_for=["198.51.100.1"], trusted=()) == "10.0.0.2"


def _scope(peer: tuple[str, int] | None, *headers: tuple[bytes, bytes], kind: str = "http") -> dict:
    return {"type": kind, "scheme": "ws" if kind == "websocket" else "http", "client": peer, "headers": list(headers)}


def test_an_untrusted_peer_keeps_its_address_and_scheme_and_loses_the_headers() -> None:
    scope = _scope(
        ("203.0.113.5", 5000),
        (b"x-forwarded-for", b"198.51.100.1"),
        (b"X-Forwarded-Proto", b"https"),
        (b"host", b"chat.example.com"),
    )
    new = forwarded_scope(scope, trusted=PROXIES)
    assert new["client"] == ("203.0.113.5", 5000)
    assert new["scheme"] == "http"
    assert new["headers"] == [(b"host", b"chat.example.com")]
    assert len(scope["headers"]) == 3  # the original scope is left alone


def test_a_trusted_proxy_sets_the_client_and_the_scheme() -> None:
    scope = _scope(("10.0.0.2", 5000), (b"x-forwarded-for", b"1.1.1.1, 198.51.100.1"), (b"x-forwarded-proto", b"https"))
    new = forwarded_scope(scope, trusted=PROXIES)
    assert new["client"] == ("198.51.100.1", 0)
    assert new["scheme"] == "https"
    assert new["headers"] == scope["headers"]  # kept for the record (e.g. a webhook delivery's headers)
    ws = forwarded_scope(_scope(("10.0.0.2", 1), (b"x-forwarded-proto", b"https"), kind="websocket"), trusted=PROXIES)
    assert ws["scheme"] == "wss"
    odd = forwarded_scope(_scope(("10.0.0.2", 1), (b"x-forwarded-proto", b"gopher")), trusted=PROXIES)
    assert odd["scheme"] == "http"


def test_a_unix_socket_peer_is_not_a_proxy() -> None:
    new = forwarded_scope(_scope(None, (b"x-forwarded-for", b"198.51.100.1")), trusted=PROXIES)
    assert new["client"] is None and new["headers"] == []


def test_a_bad_trusted_proxies_entry_is_a_clear_error() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"'proxy\.example\.com' is not an IP address or network"):
        parse_trusted_proxies(["10.0.0.1", "proxy.example.com"])
    assert parse_trusted_proxies([" ", ""]) == ()
