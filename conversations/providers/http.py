"""HTTP helpers every provider shares (Meta today, YCloud and Chatwoot next).

- `http_session()`: one pooled requests.Session per thread, with the environment read once
  (the send hot path: see bench/README.md); `environ_proxies(url)` per origin, cached.
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
import os
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from conversations.providers.base import ProviderError

__all__ = [
    "checksum_error",
    "environ_proxies",
    "find_header",
    "http_session",
    "int_or_none",
    "json_dict",
    "parse_retry_after",
    "read_limited",
    "request_failure",
    "too_large",
]

DOWNLOAD_CHUNK = 64 * 1024
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_thread_state = threading.local()


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


def json_dict(response: requests.Response) -> dict[str, Any]:
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


# Exceptions raised by requests before any response, in match order: (type, code). A bad URL is
# the channel's configuration (permanent); anything else on the way is the network (transient).
_REQUEST_FAILURES: tuple[tuple[type[requests.RequestException], str], ...] = (
    (requests.exceptions.MissingSchema, "config"),
    (requests.exceptions.InvalidSchema, "config"),
    (requests.exceptions.InvalidURL, "config"),
    (requests.RequestException, "network"),
)


def request_failure(exc: requests.RequestException, what: str) -> ProviderError:
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
