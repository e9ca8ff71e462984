"""`python -m whatsapp_ia.server`: Daphne that lets finished requests go at once and freezes its startup heap."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import port_listening, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str] | None = None) -> Iterator[tuple[int, Path]]:
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "whatsapp_ia.server", "-b", "127.0.0.1", "-p", str(port),
         "whatsapp_ia.tests.server_app:application"],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:

        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            return port_listening(port)

        wait_for(up, timeout=30, interval=0.1, message=log.read_text)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    yield from _start(tmp_path_factory)


@pytest.fixture(scope="module")
def webhook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The server with the project's settings and a short webhook read deadline."""
    env = {"DJANGO_SETTINGS_MODULE": "whatsapp_ia.settings.test", "WEBHOOK_READ_TIMEOUT": "0.5"}
    yield from _start(tmp_path_factory, env)


def _stats(port: int) -> dict[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/stats")
    return json.loads(conn.getresponse().read())


def test_finished_requests_are_released_at_once_and_the_startup_heap_is_frozen(
    server: tuple[int, Path],
) -> None:
    port, _log = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # one keep-alive connection
    for n in range(300):
        conn.request("POST", "/", body=f"request {n}".encode())
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
    conn.close()
    # Plain Daphne keeps every finished request until a once-a-second sweep: here about 300.
    stats = _stats(port)
    assert stats["live_requests"] <= 2, stats
    assert stats["frozen"] > 1000


def test_an_application_error_is_still_a_500_and_logged(server: tuple[int, Path]) -> None:
    port, log = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/boom")
    assert conn.getresponse().status == 500
    assert _stats(port)["live_requests"] <= 2
    wait_for(lambda: "boom from the test app" in log.read_text(), timeout=10, interval=0.1, message=log.read_text)
    assert "Exception inside application" in log.read_text()
    assert "boom from the test app" in log.read_text()


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=XyZ", "application/x-www-form-urlencoded", 'text/plain; charset="bogus'],
)
def test_form_posts_reach_the_application_byte_for_byte(server: tuple[int, Path], content_type: str) -> None:
    port, _log = server
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.4 \x00\xff binary\r\n--XyZ--\r\n"
        if content_type.startswith("multipart")
        else b"a=1&b=%C3%B1&a=2"
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/echo", body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, body)


@pytest.mark.parametrize(
    "option", [["--proxy-headers"], ["--proxy-headers-host", "X-Real-IP"], ["--proxy-headers-p", "X-Port"]]
)
def test_daphnes_proxy_headers_option_is_refused(option: list[str]) -> None:
    # Daphne would take X-Forwarded-For from every client; TRUSTED_PROXIES (in the application) replaces it.
    result = subprocess.run(
        [sys.executable, "-m", "whatsapp_ia.server", *option, "whatsapp_ia.tests.server_app:application"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TRUSTED_PROXIES" in result.stderr


def test_a_webhook_body_that_trickles_in_gets_408_and_never_reaches_the_application(
    webhook_server: tuple[int, Path],
) -> None:
    port, log = webhook_server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        slow.sendall(b"POST /webhooks/meta/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{" * 10)
        # The other 90 bytes never come; the server answers on its own once the deadline passes.
        answer = b""
        while chunk := slow.recv(4096):  # until the server closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b'{"detail": "Request body not received in time."}')

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/webhook", body=b"{}")  # sent at once: no deadline trouble
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"ok")
    conn.request("GET", "/seen")
    assert json.loads(conn.getresponse().read()) == ["/webhook", "/seen"]
    assert "body not complete within WEBHOOK_READ_TIMEOUT; 408" in log.read_text()


def test_the_read_deadline_only_applies_to_webhook_paths(webhook_server: tuple[int, Path]) -> None:
    from whatsapp_ia.server import read_timeout_for

    assert read_timeout_for(b"/webhook") is not None
    assert read_timeout_for(b"/webhooks/meta/?x=1") is not None
    assert read_timeout_for(b"/admin/catalog_ai/catalog/add/") is None
    assert read_timeout_for(b"/webhookz") is None
