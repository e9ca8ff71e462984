"""Chatwoot provider: Instagram and Facebook (Messenger) conversations through a Chatwoot inbox.

Contracts:
- `parse` is pure and total: any decoded JSON (or garbage) in, a `ParseResult` out; problems in
  words. Customer messages are only incoming, non-private message_created events; everything the
  business side writes (our posts, agents, the Instagram app, notes) comes back as OutboundEcho.
- `verify_signature` accepts the webhook URL's token and/or Chatwoot's X-Chatwoot-Signature.
- `send` posts in the customer's conversation (`OutboundMessage.thread_id`), files inline as
  multipart; `fetch_media` sends the API token only to the configured Chatwoot host.

The package:
  provider.py   ChatwootProvider: sends, media download, and what Chatwoot answers for every channel
                (environment credentials, 24 h Instagram/Messenger window, pacing)
  parse.py      webhook payload -> events (pure)
  payload.py    OutboundMessage -> create-message body, limits checked
  signature.py  URL token and X-Chatwoot-Signature checks
  errors.py     ProviderError from Chatwoot's error answers
Format notes: /work/shared/providers/chatwoot-api.md.
"""

from __future__ import annotations

from conversations.providers.chatwoot.errors import chatwoot_error_message, error_from_response, is_transient_status
from conversations.providers.chatwoot.parse import (
    IGNORED_EVENTS,
    attachment_kind,
    attachment_mime_type,
    conversation_platform,
    echo_origin,
    parse_time,
    parse_webhook,
)
from conversations.providers.chatwoot.payload import (
    MAX_QUICK_REPLIES,
    MAX_QUICK_REPLY_TITLE,
    MAX_TEXT,
    NO_TEMPLATES,
    build_message_payload,
    numbered_options,
)
from conversations.providers.chatwoot.provider import (
    SERVICE_WINDOW,
    WINDOW_CLOSED,
    WINDOW_CLOSED_REASON,
    ChatwootProvider,
)
from conversations.providers.chatwoot.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOKEN_HEADER,
    TOKEN_PARAM,
    compute_signature,
    delivery_is_authentic,
    signature_is_valid,
    token_matches,
)

__all__ = [
    "IGNORED_EVENTS",
    "MAX_QUICK_REPLIES",
    "MAX_QUICK_REPLY_TITLE",
    "MAX_TEXT",
    "NO_TEMPLATES",
    "SERVICE_WINDOW",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOKEN_HEADER",
    "TOKEN_PARAM",
    "WINDOW_CLOSED",
    "WINDOW_CLOSED_REASON",
    "ChatwootProvider",
    "attachment_kind",
    "attachment_mime_type",
    "build_message_payload",
    "chatwoot_error_message",
    "compute_signature",
    "conversation_platform",
    "delivery_is_authentic",
    "echo_origin",
    "error_from_response",
    "is_transient_status",
    "numbered_options",
    "parse_time",
    "parse_webhook",
    "signature_is_valid",
    "token_matches",
]
