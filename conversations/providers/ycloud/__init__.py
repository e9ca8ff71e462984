"""YCloud (a WhatsApp Business Solution Provider) provider.

Contracts, the same as Meta's (see conversations/providers/meta/__init__.py):
- `parse` is pure and total: any decoded JSON (or garbage) in, a `ParseResult` out; YCloud's
  events come out exactly as Meta's parse makes them (same kinds and data shapes), so the rest of
  the product cannot tell which WhatsApp provider carried a message.
- `build_payload` checks every WhatsApp limit (with Meta's builder) before any HTTP call and
  raises `OutboundValidationError`; a channel without a sending number is refused in words.
- Every HTTP call goes to ``{base_url}/whatsapp/...`` with ``X-API-Key`` and turns every failure
  into a `ProviderError` (transient or permanent, Meta's codes preferred).

The package:
  provider.py   YCloudProvider: sends (Direct Send), media upload and download, mark read,
                templates, and what YCloud answers for every channel (YCLOUD_* defaults, the
                24 h window, the pacing)
  parse.py      webhook event -> events (pure)
  payload.py    OutboundMessage -> /whatsapp/messages/sendDirectly JSON
  signature.py  YCloud-Signature (t=…,s=…) with a replay window
  errors.py     YCloud / Meta error codes: transient or permanent; ProviderError from an answer
Format notes: /work/shared/providers/ycloud-api.md.
"""

from __future__ import annotations

from conversations.providers.ycloud.errors import (
    NO_SENDER_NUMBER_CODE,
    PAIR_RETRY_AFTER,
    YCLOUD_TRANSIENCE,
    error_from_body,
    error_from_response,
    is_transient,
)
from conversations.providers.ycloud.parse import INBOUND_EVENT, STATUS_EVENT, e164, parse_event, parse_rfc3339, wa_id
from conversations.providers.ycloud.payload import NO_SENDER_NUMBER, build_send_payload, sender_number
from conversations.providers.ycloud.provider import API_KEY_HEADER, SEND_PATH, YCloudProvider, same_origin
from conversations.providers.ycloud.signature import (
    SIGNATURE_HEADER,
    compute_signature,
    parse_signature_header,
    signature_header,
    signature_is_valid,
)

__all__ = [
    "API_KEY_HEADER",
    "INBOUND_EVENT",
    "NO_SENDER_NUMBER",
    "NO_SENDER_NUMBER_CODE",
    "PAIR_RETRY_AFTER",
    "SEND_PATH",
    "SIGNATURE_HEADER",
    "STATUS_EVENT",
    "YCLOUD_TRANSIENCE",
    "YCloudProvider",
    "build_send_payload",
    "compute_signature",
    "e164",
    "error_from_body",
    "error_from_response",
    "is_transient",
    "parse_event",
    "parse_rfc3339",
    "parse_signature_header",
    "same_origin",
    "sender_number",
    "signature_header",
    "signature_is_valid",
    "wa_id",
]
