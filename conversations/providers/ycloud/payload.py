"""YCloud send bodies (``POST /whatsapp/messages/sendDirectly``).

YCloud takes Meta's content objects as they are (``text``, ``interactive``, ``image``, ...,
``template``), so the body is built by Meta's `build_message_payload`, which checks every
WhatsApp limit, and then re-shaped: YCloud names the sender (``from``, the business number in
E.164) instead of a phone_number_id in the URL, wants ``to`` in E.164, has no
``messaging_product`` / ``recipient_type``, and carries our correlation id as ``externalId``
(echoed in its status webhooks) where Meta has ``biz_opaque_callback_data``.
"""

from __future__ import annotations

from typing import Any

from conversations.providers.base import OutboundMessage, OutboundValidationError
from conversations.providers.meta.payload import build_message_payload

__all__ = ["NO_SENDER_NUMBER", "build_send_payload", "sender_number"]

NO_SENDER_NUMBER = (
    "the channel has no sending number: set the channel's external id to its WhatsApp number in E.164 "
    "(e.g. +573001112233), or YCLOUD_WHATSAPP_NUMBER for the environment's channel"
)


def sender_number(external_id: str) -> str:
    """The channel's business number as YCloud's ``from``: '+' and 6 to 20 digits.

    Raises OutboundValidationError saying what to configure when it is empty or not a number.
    """
    value = external_id.strip() if isinstance(external_id, str) else ""
    if not value:
        raise OutboundValidationError(NO_SENDER_NUMBER)
    digits = value.removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 20):
        raise OutboundValidationError(
            f"the channel's sending number {value!r} is not an E.164 number (+ and 6 to 20 digits); "
            "fix the channel's external id or YCLOUD_WHATSAPP_NUMBER"
        )
    return f"+{digits}"


def build_send_payload(message: OutboundMessage, *, sender: str) -> dict[str, Any]:
    """YCloud's JSON for `message` sent from `sender`; raises OutboundValidationError on any broken limit."""
    from_number = sender_number(sender)
    meta = build_message_payload(message)  # every WhatsApp limit is checked here
    kind = meta["type"]
    payload: dict[str, Any] = {"from": from_number, "to": f"+{meta['to']}", "type": kind, kind: meta[kind]}
    if "context" in meta:
        payload["context"] = meta["context"]
    if message.callback_data:
        payload["externalId"] = message.callback_data
    return payload
