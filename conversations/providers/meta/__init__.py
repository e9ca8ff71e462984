"""Meta WhatsApp Cloud API (Graph) provider.

Contracts:
- `parse` is pure and total: any decoded JSON (or garbage) in, a `ParseResult` out; every
  skipped or unknown piece is named in `problems` with its path (``entry[0].changes[1]``).
- `build_payload` checks every documented limit before any HTTP call and raises
  `OutboundValidationError` naming the field, its size and the limit.
- `send`, `fetch_media` and `mark_read` talk to ``{base}/{version}/...`` (base and version from
  the channel config, else settings) and turn every failure into a `ProviderError` whose
  `transient` flag comes from `ERROR_TRANSIENCE` (then from the HTTP status).

The package:
  provider.py   MetaProvider: sends, media upload and download, and what Meta answers for every
                channel (environment credentials, handshake, 24 h window, rate limits)
  parse.py      webhook payload -> events (pure)
  payload.py    OutboundMessage -> /messages JSON, with every limit checked
  signature.py  X-Hub-Signature-256 and the hub.* subscription handshake
  errors.py     error codes: transient or permanent; ProviderError from a Graph answer
  values.py     defensive readers of decoded JSON
The HTTP helpers (session, Retry-After, size-limited reads, sha256) are shared by every provider:
conversations/providers/http.py. Format notes: /work/shared/providers/meta-cloud-api.md.
"""

from __future__ import annotations

from conversations.providers.http import (
    checksum_error,
    environ_proxies,
    find_header,
    http_session,
    parse_retry_after,
)
from conversations.providers.meta.errors import ERROR_TRANSIENCE, WINDOW_CLOSED, error_from_response, is_transient
from conversations.providers.meta.parse import parse_webhook
from conversations.providers.meta.payload import (
    PENDING_UPLOAD,
    build_message_payload,
    normalize_recipient,
    read_payload,
)
from conversations.providers.meta.provider import SERVICE_WINDOW, WINDOW_CLOSED_REASON, MetaProvider
from conversations.providers.meta.signature import SIGNATURE_HEADER, compute_signature, signature_is_valid
from conversations.providers.meta.values import parse_timestamp

__all__ = [
    "ERROR_TRANSIENCE",
    "PENDING_UPLOAD",
    "SERVICE_WINDOW",
    "SIGNATURE_HEADER",
    "WINDOW_CLOSED",
    "WINDOW_CLOSED_REASON",
    "MetaProvider",
    "build_message_payload",
    "checksum_error",
    "compute_signature",
    "environ_proxies",
    "error_from_response",
    "find_header",
    "http_session",
    "is_transient",
    "normalize_recipient",
    "parse_retry_after",
    "parse_timestamp",
    "parse_webhook",
    "read_payload",
    "signature_is_valid",
]
