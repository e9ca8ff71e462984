"""The base of the fake provider servers: a subclass only routes; the base serves real keep-alive HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from conversations.fakes.server import FakeServer, Reply, json_reply


class EchoServer(FakeServer):
    """What a YCloud or Chatwoot fake looks like: `handle` and recorded state under `self._lock`."""

    thread_name = "fake-echo"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            self.seen.append((method, path, headers, body))
        if path == "/missing":
            return Reply(status=404, body=b"no", content_type="text/plain", headers=(("X-Why", "missing"),))
        return json_reply(201, {"method": method, "path": path, "body": body.decode()})


def test_a_subclass_answers_every_method_over_one_kept_alive_connection() -> None:
    with EchoServer() as server, requests.Session() as session:
        answers = [
            session.request(method, f"{server.base_url}/v2/messages?x=1", data=b"hola", headers={"X-Api-Key": "k"})
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        ]
        missing = session.get(f"{server.base_url}/missing")
        assert [a.status_code for a in answers] == [201] * 5
        assert [a.json()["method"] for a in answers] == ["GET", "POST", "PUT", "PATCH", "DELETE"]
        assert answers[1].json() == {"method": "POST", "path": "/v2/messages?x=1", "body": "hola"}
        assert answers[1].headers["Content-Length"] == str(len(answers[1].content))
        assert (missing.status_code, missing.text, missing.headers["X-Why"]) == (404, "no", "missing")
        assert server.seen[0][2]["x-api-key"] == "k"  # header names arrive lower-cased
        assert server.connections_opened == 1


def test_base_url_needs_a_running_server_and_stop_is_idempotent() -> None:
    server = EchoServer()
    with pytest.raises(RuntimeError, match="EchoServer is not running"):
        _ = server.base_url
    server.start()
    url = server.base_url
    assert server.start() is server and server.base_url == url  # start() is idempotent
    server.stop()
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_json_reply_encodes_the_body() -> None:
    reply: Any = json_reply(200, {"ok": True}, (("Retry-After", "3"),))
    assert (reply.status, json.loads(reply.body), reply.content_type, reply.headers) == (
        200,
        {"ok": True},
        "application/json",
        (("Retry-After", "3"),),
    )
