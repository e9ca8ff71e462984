"""The FakeGraph server speaks Graph over plain HTTP (checked with bare `requests`, no provider code)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from conversations.fakes.graph import FakeGraph

PHONE = "106540352242922"
AUTH = {"Authorization": "Bearer TEST"}


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph(token="TEST") as server:
        yield server


def send(graph: FakeGraph, to: str = "573001112233", phone: str = PHONE, **extra: Any) -> requests.Response:
    body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "Hola"}, **extra}
    return requests.post(f"{graph.base_url}/v25.0/{phone}/messages", json=body, headers=AUTH, timeout=5)


def error_code(response: requests.Response) -> int:
    return response.json()["error"]["code"]


def test_base_url_needs_a_running_server() -> None:
    server = FakeGraph()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    server.start()
    assert server.base_url.startswith("http://127.0.0.1:")
    server.stop()
    server.stop()  # idempotent


def test_send_is_recorded_and_answered_like_meta(graph: FakeGraph) -> None:
    response = send(graph)

    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "573001112233", "wa_id": "573001112233"}]
    assert body["messages"][0]["message_status"] == "accepted"
    (sent,) = graph.sent
    assert sent["wamid"] == body["messages"][0]["id"]
    assert sent["phone_number_id"] == PHONE
    assert sent["json"]["text"] == {"body": "Hola"}
    assert graph.requests[0]["status"] == 200
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_wamids_are_unique(graph: FakeGraph) -> None:
    ids = {send(graph).json()["messages"][0]["id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer otro"}, {"Authorization": "TEST"}])
def test_wrong_bearer_is_401_code_190(graph: FakeGraph, headers: dict[str, str]) -> None:
    response = requests.post(f"{graph.base_url}/v25.0/{PHONE}/messages", json={}, headers=headers, timeout=5)
    assert (response.status_code, error_code(response)) == (401, 190)
    assert response.json()["error"]["type"] == "OAuthException"
    assert graph.sent == []
    assert graph.requests[0]["status"] == 401


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"to": "573001112233", "type": "text", "text": {"body": "x"}}',
        b'{"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}',
        b'{"messaging_product": "whatsapp", "to": "573001112233", "type": "image"}',
        b'{"messaging_product": "whatsapp", "status": "read"}',
    ],
)
def test_malformed_bodies_are_400_code_100(graph: FakeGraph, body: bytes) -> None:
    url = f"{graph.base_url}/v25.0/{PHONE}/messages"
    response = requests.post(url, data=body, headers={**AUTH, "Content-Type": "application/json"}, timeout=5)
    assert (response.status_code, error_code(response)) == (400, 100)
    assert graph.sent == graph.read_marks == []


def test_mark_read_is_recorded_separately(graph: FakeGraph) -> None:
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}
    response = requests.post(f"{graph.base_url}/v25.0/{PHONE}/messages", json=body, headers=AUTH, timeout=5)
    assert response.json() == {"success": True}
    assert [mark["json"] for mark in graph.read_marks] == [body]
    assert graph.sent == []


def test_fail_next_scripts_errors_in_metas_format(graph: FakeGraph) -> None:
    graph.fail_next(2, http_status=500, code=131000, details="algo falló", retry_after=3)

    first, second, third = send(graph), send(graph), send(graph)

    assert [first.status_code, second.status_code, third.status_code] == [500, 500, 200]
    error = first.json()["error"]
    assert error["message"] == "(#131000) Something went wrong"
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": "algo falló"}
    assert error["fbtrace_id"]
    assert first.headers["Retry-After"] == "3"
    assert len(graph.sent) == 1


def test_fail_for_targets_one_recipient_until_cleared(graph: FakeGraph) -> None:
    graph.fail_for("+573009990000", code=131026)

    assert error_code(send(graph, to="573009990000")) == 131026
    assert error_code(send(graph, to="573009990000")) == 131026
    assert send(graph).status_code == 200
    graph.clear_failures()
    assert send(graph, to="573009990000").status_code == 200


def test_scripted_raw_body(graph: FakeGraph) -> None:
    graph.fail_next(http_status=502, body=b"<html>Bad Gateway</html>")
    response = send(graph)
    assert (response.status_code, response.text) == (502, "<html>Bad Gateway</html>")


def test_rate_limit_per_number_sliding_window(clock: Any) -> None:
    with FakeGraph(rate_limit_per_second=5, clock=clock) as graph:
        statuses = [send(graph).status_code for _ in range(8)]
        other_number = send(graph, phone="106540352242923")
        assert statuses == [200] * 5 + [400] * 3
        assert other_number.status_code == 200
        assert graph.rate_limit_errors == 3
        clock.advance(0.999)
        assert error_code(send(graph)) == 130429  # still the same second
        clock.advance(0.001)
        assert send(graph).status_code == 200


def test_pair_limit_per_recipient(clock: Any) -> None:
    with FakeGraph(pair_interval=0.3, clock=clock) as graph:
        assert send(graph).status_code == 200
        second = send(graph)
        assert (second.status_code, error_code(second)) == (400, 131056)
        assert send(graph, to="573004445566").status_code == 200
        clock.advance(0.3)
        assert send(graph).status_code == 200
        assert graph.pair_limit_errors == 1


def test_media_lookup_and_download(graph: FakeGraph) -> None:
    graph.add_media("1013859600285441", b"\x89PNG datos", "image/png")

    info = requests.get(f"{graph.base_url}/v25.0/1013859600285441", headers=AUTH, timeout=5).json()
    assert info["messaging_product"] == "whatsapp"
    assert info["id"] == "1013859600285441"
    assert (info["mime_type"], info["file_size"]) == ("image/png", "10")
    assert len(info["sha256"]) == 64
    assert requests.get(info["url"], timeout=5).status_code == 401
    download = requests.get(info["url"], headers=AUTH, timeout=5)
    assert (download.content, download.headers["Content-Type"]) == (b"\x89PNG datos", "image/png")


def test_media_unknown_id_and_expired_url(graph: FakeGraph) -> None:
    unknown = requests.get(f"{graph.base_url}/v25.0/999", headers=AUTH, timeout=5)
    assert (unknown.status_code, error_code(unknown)) == (400, 100)

    graph.add_media("1", b"ogg", "audio/ogg", expire_downloads=1)
    url = graph.media_url("1")
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 404
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 404  # that URL is gone for good
    assert requests.get(graph.media_url("1"), headers=AUTH, timeout=5).content == b"ogg"


def test_keep_alive_and_wait_for_sent(graph: FakeGraph) -> None:
    with requests.Session() as session:
        for _ in range(3):
            body = {"messaging_product": "whatsapp", "to": "573001112233", "type": "text", "text": {"body": "x"}}
            session.post(f"{graph.base_url}/v25.0/{PHONE}/messages", json=body, headers=AUTH, timeout=5)
    assert graph.connections_opened == 1
    assert len(graph.wait_for_sent(3, timeout=1)) == 3
    with pytest.raises(TimeoutError):
        graph.wait_for_sent(4, timeout=0.05)


def test_reset_forgets_traffic_and_scripts(graph: FakeGraph) -> None:
    graph.fail_next(code=131000)
    send(graph)
    graph.reset()
    assert graph.requests == graph.sent == []
    assert send(graph).status_code == 200


def test_unknown_route_is_a_graph_error(graph: FakeGraph) -> None:
    response = requests.post(f"{graph.base_url}/v25.0/{PHONE}/media", headers=AUTH, timeout=5)
    assert (response.status_code, error_code(response)) == (400, 100)
