"""Meta's webhook checks: the X-Hub-Signature-256 of each POST, and the GET subscription handshake."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Any

from conversations.providers.base import HandshakeAnswer

__all__ = ["SIGNATURE_HEADER", "compute_signature", "handshake_answer", "signature_is_valid"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def compute_signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value Meta sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(*, secret: str, body: Any, header: str) -> bool:
    """Constant-time check of a 'sha256=<hex>' header; False for an empty secret or a malformed header."""
    if not secret or not isinstance(body, bytes | bytearray):
        return False
    scheme, separator, digest = header.strip().partition("=")
    if separator != "=" or scheme.lower() != "sha256" or not _HEX_SHA256.fullmatch(digest):
        return False
    expected = compute_signature(secret, bytes(body)).removeprefix("sha256=")
    return hmac.compare_digest(expected, digest.lower())


def handshake_answer(*, params: Mapping[str, str], verify_tokens: Sequence[str]) -> HandshakeAnswer:
    """Meta's subscription handshake: echo hub.challenge when hub.mode is subscribe and hub.verify_token is ours."""
    mode = params.get("hub.mode")
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if not mode or token is None or challenge is None:
        return HandshakeAnswer(400, "Missing hub.mode, hub.verify_token or hub.challenge")
    if mode == "subscribe" and any(hmac.compare_digest(token.encode(), t.encode()) for t in verify_tokens):
        return HandshakeAnswer(200, challenge)
    return HandshakeAnswer(403, "Verification token mismatch")
