"""HTTP helpers every provider shares (Meta today, YCloud and Chatwoot next).

- `json_request()`: a JSON API call (a send, a lookup) on a connection this thread keeps alive
  (http.client): what the pipeline calls for every reply, at about half the CPU of urllib3's pools.
- `http_session()`: one pooled requests.Session per thread, with the environment read once, for
  the rest (uploads, streamed downloads, calls through a proxy); `environ_proxies(url)` per origin.
- `request_failure` / `too_large`: the ProviderErrors for a request that got no answer and for
  a body over its limit, classified the same way for every provider.
- `read_limited`: a streamed body, stopped as soon as it passes its limit.
- `parse_retry_after`, `checksum_error`, `find_header`, `json_dict`, `int_or_none`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import socket
import ssl
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import certifi
import requests
import urllib3
from urllib3 import HTTPHeaderDict

from conversations.providers.base import ProviderError

__all__ = [
    "api_call",
    "checksum_error",
    "environ_proxies",
    "find_header",
    "http_session",
    "int_or_none",
    "json_dict",
    "json_request",
    "parse_retry_after",
    "read_limited",
    "request_failure",
    "too_large",
]

DOWNLOAD_CHUNK = 64 * 1024
JSON_MAX_BYTES = 16 * 1024 * 1024  # an API answer larger than this is refused, not read into memory
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_thread_state = threading.local()
USER_AGENT = "whatsapp-ia"


class HttpAnswer(Protocol):
    """What the providers read of an HTTP answer: a requests.Response, or a ``JsonResponse``."""

    status_code: int
    reason: str | None

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def ok(self) -> bool: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class JsonResponse:
    """The answer to ``json_request``: status, headers (case-insensitive) and the whole body."""

    __slots__ = ("content", "headers", "reason", "status_code")

    def __init__(self, *, status_code: int, reason: str | None, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.content = content

    @property
    def ok(self) -> bool:
        """2xx: redirects are not followed (an API endpoint does not move; a 3xx is the configuration's error)."""
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _ca_bundle() -> str:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()


#: Kept-alive connections a thread holds at most (one per origin: the provider's API, a Chatwoot instance...).
MAX_CONNECTIONS = 16


@functools.lru_cache(maxsize=4)
def _tls_context(ca_bundle: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle)  # CERT_REQUIRED, host names checked


def _connections() -> OrderedDict[tuple[str, str, int], http.client.HTTPConnection]:
    """This thread's kept-alive connections by origin, least recently used first."""
    held: OrderedDict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(
        _thread_state, "connections", None
    )
    if held is None:
        held = _thread_state.connections = OrderedDict()
    return held


_HEADER_LINE = re.compile(r"([!-9;-~]*):(.*)", re.DOTALL)  # a field: printable ASCII but ":" before the ":"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")  # lines as the email parser splits them


def parse_header_block(fp: Any) -> http.client.HTTPMessage:
    """``http.client.parse_headers`` without the email package: the same lines read with the same limits
    (``_read_headers``: 65,536 bytes a line, 100 headers) and the same fields kept, in order, duplicates
    included.

    As the email parser (compat32) does: lines end at CR LF, CR or LF; a value keeps its folded lines and
    loses its leading blanks and final line end; a "From " line, a field with no name and the lines folded
    into either are skipped; any other line that is no field ends the fields. It costs a quarter of the
    email parser's CPU in a loop (6 against 24 us for four fields).
    """
    fields: list[list[str]] = []
    folds_into: list[str] | None = None  # the field a folded line continues
    text = b"".join(http.client._read_headers(fp)).decode("iso-8859-1")
    for line in _LINE.findall(text):
        if line in ("\r\n", "\r", "\n"):
            break
        if line[0] in " \t":
            if folds_into is not None:
                folds_into[1] += line
            continue
        folds_into = None
        if line.startswith("From "):
            continue  # the email parser's mbox "From " line
        match = _HEADER_LINE.match(line)
        if match is None:
            break
        if match[1]:
            folds_into = [match[1], match[2].lstrip(" \t")]
            fields.append(folds_into)
    message = http.client.HTTPMessage()
    for name, value in fields:
        message[name] = value.rstrip("\r\n")
    return message


def _begin_with(parse_headers: Callable[[Any], http.client.HTTPMessage]) -> Any:
    """``HTTPResponse.begin`` as the standard library wrote it, reading the header block with
    ``parse_headers``; None when this Python's ``begin`` does not call ``parse_headers`` by that name."""
    begin = http.client.HTTPResponse.begin
    if "parse_headers" not in begin.__code__.co_names or begin.__closure__:
        return None
    scope = {**begin.__globals__, "parse_headers": parse_headers}
    return types.FunctionType(begin.__code__, scope, begin.__name__, begin.__defaults__)


class _Response(http.client.HTTPResponse):
    """http.client's response, its header block read by ``parse_header_block``; the rest (status line,
    100-continue, chunked bodies, Content-Length, keep-alive) is the standard library's own code."""

    begin = _begin_with(parse_header_block) or http.client.HTTPResponse.begin


def _readable(sock: socket.socket) -> bool:
    """Whether ``sock`` reads as ready now (poll: no descriptor limit, unlike select)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _connection(scheme: str, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
    """This thread's connection to the origin, opened unless one is kept alive (and the server has not closed
    it meanwhile: a kept-alive socket that reads as ready has its end of file, or bytes nobody asked for)."""
    held = _connections()
    key = (scheme, host, port)
    conn = held.pop(key, None)
    if conn is not None and conn.sock is not None and _readable(conn.sock):
        conn.close()
    if conn is None:  # http.client turns Nagle's algorithm off (TCP_NODELAY) itself, as urllib3 does
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls_context(_ca_bundle()))
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.response_class = _Response
    held[key] = conn
    while len(held) > MAX_CONNECTIONS:
        held.popitem(last=False)[1].close()
    conn.timeout = timeout
    if conn.sock is not None:
        conn.sock.settimeout(timeout)
    return conn


def json_request(
    method: str,
    url: str,
    what: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    payload: Any = None,
    params: Mapping[str, Any] | None = None,
) -> HttpAnswer:
    """A JSON API call: ``payload`` as the JSON body (when given), the whole answer read (up to JSON_MAX_BYTES).

    Through the standard library's http.client on a connection this thread keeps alive per origin:
    about half the CPU of urllib3's pools per call (0.30 -> 0.16 ms, bench/README.md), and the
    pipeline makes one per reply. Calls that go through a proxy (HTTP(S)_PROXY) take requests' path,
    which knows proxies. Redirects are not followed. Raises the ProviderError of ``request_failure``
    when no answer came.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ProviderError(f"{what}: InvalidURL: {url[:200]!r}: {exc}", code="config", transient=False) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderError(f"{what}: InvalidURL: {url[:200]!r} is not an http(s) URL", code="config", transient=False)
    if params:
        url = f"{url}{'&' if parts.query else '?'}{urlencode(params, doseq=True)}"
        parts = urlsplit(url)
    proxies = environ_proxies(url)
    if proxies:
        try:
            return http_session().request(
                method, url, headers=dict(headers), timeout=timeout, proxies=proxies, json=payload
            )
        except requests.RequestException as exc:
            raise request_failure(exc, what) from exc
    body = None
    headers = {"User-Agent": USER_AGENT, **headers}
    if payload is not None:
        body = json.dumps(payload, allow_nan=False).encode()
        headers["Content-Type"] = "application/json"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    origin = (parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))
    conn = _connection(*origin, timeout)
    try:
        conn.request(method, target, body=body, headers=headers)  # headers and body in one send
        response = conn.getresponse()
        declared = int_or_none(response.getheader("Content-Length"))
        if declared is not None and declared > JSON_MAX_BYTES:
            raise too_large(f"the answer is {declared} bytes", JSON_MAX_BYTES)
        content = response.read(JSON_MAX_BYTES + 1)
        if len(content) > JSON_MAX_BYTES:
            raise too_large("the answer is larger", JSON_MAX_BYTES)
        if not response.isclosed() or response.will_close:
            conn.close()  # bytes left unread, or the server closes it: the next call opens a new one
    except BaseException as exc:
        conn.close()  # whatever state it is in, the next call gets a fresh connection (CA bundle read again)
        _connections().pop(origin, None)
        if isinstance(exc, http.client.HTTPException | OSError):
            raise request_failure(exc, what) from exc
        raise
    return JsonResponse(
        status_code=response.status,
        reason=response.reason,
        headers=HTTPHeaderDict(response.getheaders()),
        content=content,
    )


def api_call(
    method: str,
    url: str,
    what: str,
    *,
    headers: Callable[[], Mapping[str, str]],
    timeout: float,
    other: Callable[..., HttpAnswer],
    **kwargs: Any,
) -> HttpAnswer:
    """A provider's API call: through ``json_request`` when it is a JSON call (only ``json=`` and
    ``params=``: a send, a lookup), else through ``other`` (the provider's requests path: uploads,
    forms, streamed downloads) with the same arguments. ``headers`` is called only for a JSON call."""
    if kwargs.keys() <= {"json", "params"}:
        return json_request(
            method,
            url,
            what,
            headers=headers(),
            timeout=timeout,
            payload=kwargs.get("json"),
            params=kwargs.get("params"),
        )
    return other(method, url, what, **kwargs)


def http_session() -> requests.Session:
    """This thread's pooled session (requests.Session is not guaranteed thread-safe).

    requests reads the environment on every request by default (proxies, CA bundle, ~/.netrc:
    measured 0.81 ms of CPU per send with it, 0.58 ms without). Here it is read once: `verify` from
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE now, proxies per origin by `environ_proxies`. ~/.netrc is
    never consulted: its credentials would replace the bearer token.
    """
    session: requests.Session | None = getattr(_thread_state, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        _thread_state.session = session
    return session


@functools.lru_cache(maxsize=64)
def _origin_proxies(origin: str) -> dict[str, str]:
    return requests.utils.get_environ_proxies(origin)


def environ_proxies(url: str) -> dict[str, str]:
    """HTTP(S)_PROXY for `url` unless NO_PROXY covers its host (read once per origin and process)."""
    parts = urlsplit(url)
    return _origin_proxies(f"{parts.scheme}://{parts.netloc}")


def parse_retry_after(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(tz=UTC)).total_seconds())


def _header_key(name: str) -> str:
    """Normalize 'X-Hub-Signature-256', 'x_hub_signature_256' and 'HTTP_X_HUB_SIGNATURE_256' alike."""
    return name.lower().replace("_", "-").removeprefix("http-")


def find_header(headers: Any, name: str) -> str:
    """The value of header `name` in any mapping, matching names case-insensitively; '' if absent."""
    items = getattr(headers, "items", None)
    if not callable(items):
        return ""
    wanted = _header_key(name)
    for key, value in items():
        if isinstance(key, str) and _header_key(key) == wanted:
            if isinstance(value, bytes):
                return value.decode("latin-1")
            return value if isinstance(value, str) else ""
    return ""


def json_dict(response: HttpAnswer) -> dict[str, Any]:
    """The response's JSON object; {} when the body is not JSON or not an object."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    except ValueError:
        return None


# Exceptions raised by requests or urllib3 before any response, in match order: (type, code). A bad
# URL is the channel's configuration (permanent); anything else on the way is the network (transient).
_REQUEST_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (requests.exceptions.MissingSchema, "config"),
    (requests.exceptions.InvalidSchema, "config"),
    (requests.exceptions.InvalidURL, "config"),
    (urllib3.exceptions.LocationValueError, "config"),
    (urllib3.exceptions.URLSchemeUnknown, "config"),
    (http.client.InvalidURL, "config"),
    (BaseException, "network"),
)


def request_failure(exc: BaseException, what: str) -> ProviderError:
    """The ProviderError for a request that got no response: code "config" (permanent) or "network"."""
    code = next(code for kind, code in _REQUEST_FAILURES if isinstance(exc, kind))
    return ProviderError(f"{what}: {type(exc).__name__}: {exc}", code=code, transient=code == "network")


def too_large(detail: str, max_bytes: int) -> ProviderError:
    """A permanent "media_too_large" ProviderError."""
    return ProviderError(
        f"media too large: {detail}; the limit is {max_bytes} bytes", code="media_too_large", transient=False
    )


def read_limited(response: requests.Response, max_bytes: int, *, what: str = "media download") -> bytes:
    """A streamed response's body; raises `too_large` as soon as more than `max_bytes` arrived."""
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(chunk_size=DOWNLOAD_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise too_large(f"more than {max_bytes} bytes streamed", max_bytes)
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise request_failure(exc, what) from exc
    return b"".join(chunks)


def checksum_error(content: bytes, expected: Iterable[str]) -> str:
    """'' when `content` matches every expected hex or base64 sha256 digest, else what differs."""
    digest = hashlib.sha256(content).digest()
    for value in filter(None, expected):
        if not _digest_matches(digest, value.strip()):
            return f"media sha256 mismatch: expected {value[:100]}, got {digest.hex()}"
    return ""


def _digest_matches(digest: bytes, value: str) -> bool:
    if _HEX_SHA256.fullmatch(value):
        return hmac.compare_digest(digest.hex(), value.lower())
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            if hmac.compare_digest(decode(value + "=" * (-len(value) % 4)), digest):
                return True
        except (binascii.Error, ValueError):
            continue
    return False
