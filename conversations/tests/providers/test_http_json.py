"""json_request: the providers' JSON API calls through http.client (what every reply costs), and its limits."""

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


def test_each_thread_has_its_own_connections(api: Api) -> None:
    held: list[Any] = []

    def work() -> None:
        json_request("GET", f"{api.base_url}/x", "lookup", headers={}, timeout=5)
        held.append(dict(http._connections()))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(held) == 2 and [len(h) for h in held] == [1, 1]
    assert next(iter(held[0].values())) is not next(iter(held[1].values()))
    assert api.connections_opened == 2


def test_a_kept_alive_connection_the_server_closed_meanwhile_is_replaced_not_failed(api: Api) -> None:
    from conftest import wait_for

    def call(n: int) -> Any:
        return json_request("POST", f"{api.base_url}/v25.0/1/messages", "send", headers={}, timeout=5, payload={"n": n})

    assert call(1).ok
    api._server.close_connections()  # the server drops its idle keep-alive connection
    wait_for(lambda: not api._server.connections, message="the server did not close the connection")
    answer = call(2)
    assert answer.ok and answer.json()["echo"] == {"n": 2}
    assert api.connections_opened == 2


def test_a_thread_keeps_at_most_max_connections_closing_the_least_recently_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http, "MAX_CONNECTIONS", 2)
    servers = [Api().start() for _ in range(3)]
    try:
        for server in servers:
            assert json_request("GET", f"{server.base_url}/x", "lookup", headers={}, timeout=5).ok
        held = http._connections()
        assert [port for _scheme, _host, port in held] == [int(s.base_url.rsplit(":", 1)[1]) for s in servers[1:]]
    finally:
        for server in servers:
            server.stop()
        http._connections().clear()


def test_https_verifies_the_servers_certificate_against_the_ca_bundle(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTPS API whose certificate the CA bundle (REQUESTS_CA_BUNDLE, else certifi's) does not vouch for
    gets no request: a transient network error, as any failed connection."""
    import datetime
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"messages": [{"id": "wamid.TLS"}]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://localhost:{server.server_address[1]}/v25.0/1/messages"
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    try:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        with pytest.raises(ProviderError) as caught:
            json_request("POST", url, "send", headers={}, timeout=5, payload={})
        assert (caught.value.code, caught.value.transient) == ("network", True)
        assert "CERTIFICATE_VERIFY_FAILED" in caught.value.args[0]
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
        answer = json_request("POST", url, "send", headers={}, timeout=5, payload={})
        assert answer.ok and answer.json() == {"messages": [{"id": "wamid.TLS"}]}
    finally:
        server.shutdown()
        server.server_close()
        http._connections().clear()


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
