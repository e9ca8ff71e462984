"""The simulator provider: outbound messages are validated and captured, never sent anywhere.

Used by the bot simulator (``manage.py simulate_chat`` and the admin page "Try the bot",
see ``flows.simulator``), whose channel has ``provider="simulator"``:

- `build_payload` delegates to Meta's payload builder, so the WhatsApp limits (3 buttons,
  20-character titles, 10 list rows, ...) are exactly the ones a real channel enforces and a
  rule that would be refused by WhatsApp is refused in the simulator too.
- `send` validates the same way and returns a generated id (``sim.<uuid>``); no HTTP call.
- The customer-service window is Meta's too (24 h, then templates only); there is no pacing,
  since nothing leaves the server.
- There are no webhooks: `verify_signature` is always False, `parse` yields no events and there
  is no handshake.
- `fetch_media` fails permanently (simulated customers send text and option taps only);
  `upload_media` returns an id made from the content; `mark_read` does nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from conversations.providers.base import (
    ChannelConfig,
    MediaFile,
    MediaRef,
    OutboundMessage,
    ParseResult,
    Provider,
    ProviderError,
    SendResult,
)
from conversations.providers.meta import MetaProvider, build_message_payload

__all__ = ["SIMULATOR_ID_PREFIX", "SimulatorProvider"]

SIMULATOR_ID_PREFIX = "sim."
NO_WEBHOOKS = "the simulator provider receives no webhooks; use `manage.py simulate_chat` or the admin simulator"


class SimulatorProvider(Provider):
    """A channel whose replies are captured in the database only (the bot simulator's channel)."""

    name = "simulator"

    @classmethod
    def webhook_path(cls) -> str:
        return ""  # no webhooks

    @classmethod
    def config_problems(cls, config: ChannelConfig) -> list[str]:
        return []  # nothing leaves the server: nothing to configure

    @classmethod
    def window_refusal(
        cls, *, message: OutboundMessage, last_inbound_at: datetime | None, now: datetime
    ) -> ProviderError | None:
        """Meta's window: a reply the real channel would refuse is refused in the simulator too."""
        return MetaProvider.window_refusal(message=message, last_inbound_at=last_inbound_at, now=now)

    @classmethod
    def service_window(cls) -> timedelta | None:
        return MetaProvider.service_window()

    def verify_signature(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> bool:
        """Always False: nothing may post webhooks for the simulator."""
        return False

    @staticmethod
    def parse(payload: Any) -> ParseResult:
        """No events, ever; the problem says why."""
        return ParseResult(events=[], problems=[NO_WEBHOOKS])

    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        """Meta's payload for `message`: the same WhatsApp limits as a real channel."""
        return build_message_payload(message)

    def send(self, message: OutboundMessage) -> SendResult:
        """Validate, then 'send' by returning a generated id; the payload is returned in `raw`."""
        payload = self.build_payload(message)
        return SendResult(provider_message_id=f"{SIMULATOR_ID_PREFIX}{uuid.uuid4().hex}", raw={"captured": payload})

    def fetch_media(self, media: MediaRef, *, max_bytes: int) -> MediaFile:
        raise ProviderError("the simulator has no media to download", code="no_media", transient=False)

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """No upload anywhere: an id made from the content, so the same file gets the same id."""
        return f"{SIMULATOR_ID_PREFIX}media.{hashlib.sha256(content).hexdigest()[:24]}"

    def mark_read(self, provider_message_id: str) -> None:
        """Nothing to tell anyone."""
