"""YCloud's webhook signature: ``YCloud-Signature: t=<unix seconds>,s=<hex>``.

The signature is HMAC-SHA256, keyed with the webhook endpoint's secret (``whsec_…``, used as the
string it is), over ``f"{t}."`` followed by the raw body bytes, as lowercase hex. The timestamp is
inside the signed string, so a delivery older (or newer) than the tolerance is refused: a recorded
delivery cannot be replayed later. Everything that is not exactly one well-formed timestamp and
at least one well-formed signature is refused, never guessed at.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import NamedTuple

__all__ = ["SIGNATURE_HEADER", "compute_signature", "parse_signature_header", "signature_header", "signature_is_valid"]

SIGNATURE_HEADER = "YCloud-Signature"
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class SignatureHeader(NamedTuple):
    timestamp: int
    signatures: tuple[str, ...]  # lowercase hex digests (a rotated secret may bring several)


def compute_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 YCloud sends for `body` delivered at `timestamp`."""
    message = f"{timestamp}.".encode() + bytes(body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The whole header value YCloud would send: 't=<timestamp>,s=<hex>'."""
    return f"t={timestamp},s={compute_signature(secret, timestamp, body)}"


def parse_signature_header(header: str) -> SignatureHeader | None:
    """'t=…,s=…' -> (timestamp, signatures); None unless there is one t and at least one s, all well formed."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, separator, value = part.strip().partition("=")
        if not separator:
            return None
        key, value = key.strip(), value.strip()
        if key == "t":
            timestamps.append(value)
        elif key == "s":
            signatures.append(value)
        # other keys: ignored, as signature schemes add fields over time
    if len(timestamps) != 1 or not _UNIX_SECONDS.fullmatch(timestamps[0]) or not signatures:
        return None
    if not all(_HEX_SHA256.fullmatch(signature) for signature in signatures):
        return None
    return SignatureHeader(int(timestamps[0]), tuple(signature.lower() for signature in signatures))


def signature_is_valid(*, secret: str, body: object, header: str, now: float, tolerance: float) -> bool:
    """Constant-time check of a YCloud-Signature header against `body`, judged at Unix time `now`.

    False for an empty secret, a body that is not bytes, a missing or garbled header, a timestamp
    more than `tolerance` seconds away from `now` (either way), or no matching signature.
    """
    if not secret or not isinstance(body, bytes | bytearray) or not header:
        return False
    parsed = parse_signature_header(header)
    if parsed is None or abs(now - parsed.timestamp) > tolerance:
        return False
    expected = compute_signature(secret, parsed.timestamp, bytes(body))
    # Compare against every candidate (no early exit), so timing says nothing about which one matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in parsed.signatures]
    return any(matches)
