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


# --------------------------------------------------------------------------- the header block, read without email


HEADER_BLOCKS = [
    b"Content-Type: application/json\r\nContent-Length: 12\r\n\r\n",
    b"A: 1\nB:2\n\n",  # bare line feeds
    b"A: 1\r\nA: 2\r\n\r\n",  # a repeated field stays twice, in order
    b"C:  3  \r\n\r\n",  # leading blanks go, trailing ones stay
    b"X-A: a\r\n b\r\n\tc\r\nY: z\r\n\r\n",  # folded lines stay in the value
    b"A: 1\r\nnot a field\r\nB: 2\r\n\r\n",  # a line that is no field ends the fields
    b"Name : v\r\nB: 1\r\n\r\n",  # no blank before the colon
    b" lead\r\nA: 1\r\n\r\n",  # a folded line with no field before it
    b"A: 1\r\n:x\r\n y\r\nB: 2\r\n\r\n",  # a field with no name, and what is folded into it
    b"From someone\r\nA: 1\r\n\r\n",
    b"A: 1\r\r\nB: 2\r\n\r\n",  # a lone CR ends a line
    b"A: caf\xe9\r\n\r\n",  # Latin-1
    b"A:\r\n\r\n",
    b"A: 1\r\n",  # the connection closed before the blank line
    b"\r\n",
    b"",
]


def _both(block: bytes) -> tuple[Any, Any]:
    import http.client as stdlib
    import io

    def items(parse: Any) -> Any:
        try:
            return parse(io.BytesIO(block)).items()
        except Exception as exc:  # the line and count limits raise the same errors
            return type(exc)

    return items(stdlib.parse_headers), items(http.parse_header_block)


@pytest.mark.parametrize("block", HEADER_BLOCKS)
def test_the_header_block_reads_as_the_standard_librarys_email_parser_reads_it(block: bytes) -> None:
    ours, theirs = _both(block)
    assert ours == theirs


def test_random_header_blocks_read_as_the_email_parser_reads_them() -> None:
    import random

    pieces = [
        b"A: 1",
        b"B:2",
        b"Content-Length: 5",
        b" fold",
        b"\tfold",
        b"junk",
        b":x",
        b"From x",
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b":",
        b"\xe9",
        b"X-Y:  z  ",
        b"a b: c",
        b"\x00",
        b"\x7f: y",
        b"K:\x0bv",
        b"\x85",
    ]
    rng = random.Random(20261207)
    for _ in range(5000):
        block = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        ours, theirs = _both(block)
        assert ours == theirs, block
    for limit_breaker in (b"A: " + b"x" * 70_000 + b"\r\n\r\n", b"".join(b"H%d: v\r\n" % i for i in range(120))):
        ours, theirs = _both(limit_breaker)
        assert ours == theirs and isinstance(ours, type) and issubclass(ours, Exception)


class _RawServer:
    """Answers each connection's requests with the raw bytes given, one answer per request."""

    def __init__(self, answers: list[bytes]) -> None:
        import socket

        self.answers = answers
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            for answer in self.answers:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = int(
                    next(
                        (
                            line.split(b":")[1]
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length")
                        ),
                        b"0",
                    )
                )
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()


def test_a_json_answer_with_folded_and_repeated_headers_a_chunked_body_and_a_100_continue_first() -> None:
    server = _RawServer(
        [
            b"HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Note: a\r\n b\r\nSet-Cookie: one\r\n"
            b'Set-Cookie: two\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n',
            b"HTTP/1.1 429 Too Many\r\nContent-Length: 2\r\nRetry-After: 3\r\n\r\n{}",
        ]
    )
    try:
        first = json_request("POST", f"{server.url}/x", "send", headers={}, timeout=5, payload={"n": 1})
        assert (first.status_code, first.json()) == (200, {"a": 1})
        assert first.headers["x-note"] == "a\r\n b" and first.headers.getlist("set-cookie") == ["one", "two"]
        assert "x-early" not in first.headers
        second = json_request("POST", f"{server.url}/x", "send", headers={}, timeout=5, payload={"n": 2})
        assert (second.status_code, second.reason, second.headers["retry-after"]) == (429, "Too Many", "3")
    finally:
        server.close()
        http._connections().clear()


def test_this_pythons_response_reads_its_headers_without_the_email_parser() -> None:
    """On a Python whose HTTPResponse.begin no longer calls parse_headers, the standard one is used (slower,
    same answers): this test says so instead of the benchmark finding it."""
    import http.client as stdlib

    assert http._Response.begin is not stdlib.HTTPResponse.begin
    assert http._Response.begin.__globals__["parse_headers"] is http.parse_header_block
    assert stdlib.parse_headers is not http.parse_header_block  # the module itself is left alone
