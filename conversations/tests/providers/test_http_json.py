"""json_request: the providers' JSON API calls through urllib3 (what every reply costs), and its limits."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from conversations.fakes.server import FakeServer, Reply, json_reply
from conversations.providers import http
from conversations.providers.base import ProviderError
from conversations.providers.http import json_dict, json_request


class Api(FakeServer):
    thread_name = "fake-api"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            self.seen.append((method, path, headers, body))
        if path.startswith("/moved"):
            return Reply(status=301, body=b"", content_type="text/html", headers=(("Location", "/elsewhere"),))
        if path.startswith("/big"):
            return json_reply(200, {"data": "x" * 5000})
        if path.startswith("/limited"):
            return json_reply(429, {"error": {"message": "slow down"}}, headers=(("Retry-After", "7"),))
        return json_reply(200, {"messages": [{"id": "wamid.1"}], "echo": json.loads(body or b"null")})


@pytest.fixture
def api() -> Any:
    with Api() as server:
        yield server


def test_a_json_call_sends_the_payload_and_reads_the_answer_on_one_kept_alive_connection(api: Api) -> None:
    def call(n: int) -> Any:
        return json_request(
            "POST",
            f"{api.base_url}/v25.0/123/messages",
            "send",
            headers={"Authorization": "Bearer T"},
            timeout=5,
            payload={"n": n, "text": "¿Qué tal? ñ"},
        )

    answers = [call(n) for n in range(3)]
    assert [a.status_code for a in answers] == [200] * 3 and all(a.ok for a in answers)
    assert json_dict(answers[2]) == {"messages": [{"id": "wamid.1"}], "echo": {"n": 2, "text": "¿Qué tal? ñ"}}
    method, path, headers, _ = api.seen[0]
    assert (method, path) == ("POST", "/v25.0/123/messages")
    assert headers["authorization"] == "Bearer T" and headers["content-type"] == "application/json"
    assert api.connections_opened == 1


def test_params_are_added_to_the_query(api: Api) -> None:
    json_request("GET", f"{api.base_url}/t?a=1", "list", headers={}, timeout=5, params={"after": "x y", "limit": 2})
    assert api.seen[0][1] == "/t?a=1&after=x+y&limit=2"


def test_a_redirect_is_not_followed_and_is_no_success(api: Api) -> None:
    answer = json_request("POST", f"{api.base_url}/moved", "send", headers={}, timeout=5, payload={})
    assert (answer.status_code, answer.ok) == (301, False)
    assert [path for _, path, _, _ in api.seen] == ["/moved"]


def test_headers_of_an_error_answer_are_read_case_insensitively(api: Api) -> None:
    answer = json_request("POST", f"{api.base_url}/limited", "send", headers={}, timeout=5, payload={})
    assert (answer.status_code, answer.ok, answer.headers.get("retry-after")) == (429, False, "7")
    assert answer.json()["error"]["message"] == "slow down"


def test_an_answer_over_the_limit_is_refused_not_read(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "JSON_MAX_BYTES", 1000)
    with pytest.raises(ProviderError) as caught:
        json_request("GET", f"{api.base_url}/big", "template list", headers={}, timeout=5)
    assert (caught.value.code, caught.value.transient) == ("media_too_large", False)
    # The unread answer does not poison the kept-alive connection: the next call gets its own answer.
    answer = json_request("POST", f"{api.base_url}/v25.0/1/messages", "send", headers={}, timeout=5, payload={"n": 1})
    assert answer.ok and answer.json()["echo"] == {"n": 1}


def test_no_answer_is_a_transient_network_error() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderError) as caught:
        json_request("POST", f"http://127.0.0.1:{port}/x", "send", headers={}, timeout=2, payload={})
    assert (caught.value.code, caught.value.transient) == ("network", True)
    assert caught.value.args[0].startswith("send: ")


@pytest.mark.parametrize("url", ["graph.facebook.com/v25.0/1/messages", "ftp://example.com/x", "http:///nohost"])
def test_a_url_that_is_not_http_is_the_configurations_permanent_error(url: str) -> None:
    with pytest.raises(ProviderError) as caught:
        json_request("POST", url, "send", headers={}, timeout=2, payload={})
    assert (caught.value.code, caught.value.transient) == ("config", False)


def test_each_thread_has_its_own_pool(api: Api) -> None:
    pools: list[Any] = []

    def work() -> None:
        json_request("GET", f"{api.base_url}/x", "lookup", headers={}, timeout=5)
        pools.append(http._pool_manager())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pools) == 2 and pools[0] is not pools[1]


def test_a_proxied_origin_goes_through_requests_which_knows_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY names the proxy: the call is made to it, as requests makes proxied calls."""
    proxy = Api().start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        http._origin_proxies.cache_clear()
        answer = json_request(
            "POST", "http://graph.example/v25.0/1/messages", "send", headers={}, timeout=5, payload={}
        )
        assert answer.ok
        assert proxy.seen[0][1] == "http://graph.example/v25.0/1/messages"  # the absolute URL a proxy gets
    finally:
        proxy.stop()
        http._origin_proxies.cache_clear()
