"""Is a Chatwoot webhook delivery authentic? Two proofs, either or both:

- a token: the webhook URL is ``https://host/webhooks/chatwoot/?token=SECRET`` (or a proxy adds
  the ``X-Chatwoot-Webhook-Token`` header). Every Chatwoot version can send it, so it is the
  proof for old self-hosted servers that sign nothing.
- Chatwoot's signature (newer versions, when the webhook has a secret):
  ``X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "{X-Chatwoot-Timestamp}.{raw body}")>``.
  A fresh valid signature alone is enough; a signature that is present must be valid and fresh
  whenever we hold the secret, even next to a right token (a replayed or forged body is refused).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any

from conversations.providers.http import find_header

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOKEN_HEADER",
    "TOKEN_PARAM",
    "compute_signature",
    "delivery_is_authentic",
    "signature_is_valid",
    "token_matches",
]

SIGNATURE_HEADER = "X-Chatwoot-Signature"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
TOKEN_HEADER = "X-Chatwoot-Webhook-Token"  # noqa: S105 - a header name, not a secret
TOKEN_PARAM = "token"  # noqa: S105 - a query parameter name
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def compute_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Chatwoot-Signature value Chatwoot sends for `body` signed at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def token_matches(presented: str, secret: str) -> bool:
    """Constant-time comparison; an empty secret matches nothing."""
    return bool(secret) and hmac.compare_digest(presented.encode(), secret.encode())


def signature_is_valid(*, secret: str, body: Any, signature: str, timestamp: str, now: float, tolerance: float) -> bool:
    """A 'sha256=<hex>' signature of '{timestamp}.{body}' under `secret`, made within `tolerance` s of `now`."""
    if not secret or not isinstance(body, bytes | bytearray):
        return False
    try:
        signed_at = int(timestamp.strip())
    except ValueError:
        return False
    if abs(now - signed_at) > tolerance:
        return False
    scheme, separator, digest = signature.strip().partition("=")
    if separator != "=" or scheme.lower() != "sha256" or not _HEX_SHA256.fullmatch(digest):
        return False
    expected = compute_signature(secret, timestamp.strip(), bytes(body)).removeprefix("sha256=")
    return hmac.compare_digest(expected, digest.lower())


def delivery_is_authentic(
    *,
    body: bytes,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None,
    app_secret: str,
    verify_token: str,
    now: float | None = None,
    tolerance: float = 300,
) -> bool:
    """True when the delivery proves itself (see the module docstring); False on anything missing.

    The token is compared with `verify_token`, or with `app_secret` when no separate token is set.
    """
    now = time.time() if now is None else now
    presented = _presented_token(headers, params)
    signature = find_header(headers, SIGNATURE_HEADER)
    timestamp = find_header(headers, TIMESTAMP_HEADER)
    signed = bool(signature or timestamp)
    if signed and app_secret:
        valid = signature_is_valid(
            secret=app_secret, body=body, signature=signature, timestamp=timestamp, now=now, tolerance=tolerance
        )
        if not valid:
            return False
        return True if not presented else token_matches(presented, verify_token or app_secret)
    if presented:
        return token_matches(presented, verify_token or app_secret)
    return False


def _presented_token(headers: Mapping[str, str], params: Mapping[str, str] | None) -> str:
    value = params.get(TOKEN_PARAM) if params else None
    if isinstance(value, list | tuple):  # a parse_qs-style mapping
        value = value[-1] if value else None
    if isinstance(value, str) and value:
        return value
    return find_header(headers, TOKEN_HEADER)
