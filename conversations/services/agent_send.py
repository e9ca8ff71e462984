"""An agent writes to a customer from the console: text, a file, buttons, a list, a quick reply or a template.

Every send goes through ``message_queue_outbound`` (stored queued, delivered by the pipeline).
Free-form messages are refused while the provider's customer-service window is closed
(``WindowClosed``, the API's 409); templates may always go. Sending takes the chat over
(the bot stays silent, the agent becomes its assignee) unless a human already has it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import events
from conversations.models import Conversation, ConversationStatus, Message
from conversations.providers.base import OutboundMessage, OutboundValidationError
from conversations.services.media_types import media_sniff
from conversations.services.outbound import message_queue_outbound, window_refusal
from conversations.services.quick_replies import quick_reply_get
from conversations.services.serialize import message_event_data
from conversations.services.state import conversation_take_over

__all__ = [
    "ATTACHMENT_KINDS",
    "SendRefused",
    "WindowClosed",
    "agent_send",
    "agent_send_attachment",
    "agent_send_quick_reply",
    "agent_send_template",
    "attachment_kind",
]


class SendRefused(ValueError):
    """The message cannot be sent as asked (bad input, provider limit); nothing was stored."""

    def __init__(self, message: str, *, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.field = field


class WindowClosed(Exception):
    """Free-form messages are refused: the customer-service window is closed (only templates)."""

    code = "window_closed"


# What WhatsApp accepts per kind (Cloud API media limits); anything else is sent as a document.
ATTACHMENT_KINDS: dict[str, frozenset[str]] = {
    "image": frozenset({"image/jpeg", "image/png"}),
    "audio": frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    "video": frozenset({"video/mp4", "video/3gpp"}),
}
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "text/plain",
    }
)


def attachment_kind(mime_type: str) -> str | None:
    """The WhatsApp message kind for a file of this (sniffed) type; None when WhatsApp cannot take it."""
    for kind, types in ATTACHMENT_KINDS.items():
        if mime_type in types:
            return kind
    if mime_type in DOCUMENT_TYPES:
        return "document"
    return None


def _max_bytes(kind: str) -> int:
    return int(settings.CONSOLE_UPLOAD_MAX_MB[kind] * 1024 * 1024)


def _refuse_outside_window(conversation: Conversation, outbound: OutboundMessage) -> None:
    refusal = window_refusal(conversation, outbound, now=timezone.now())
    if refusal is not None:
        raise WindowClosed(
            _("The customer's last message is more than 24 hours old: only an approved template can be sent.")
        )


def _queue(
    *,
    conversation: Conversation,
    user: Any,
    outbounds: Sequence[OutboundMessage],
    media: dict[int, tuple] | None = None,
) -> list[Message]:
    """Check the window and the provider's limits for all, then store all, taking the chat over."""
    for outbound in outbounds:
        _refuse_outside_window(conversation, outbound)
    messages: list[Message] = []
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().select_related("contact", "channel").get(pk=conversation.pk)
        if locked.status != ConversationStatus.HUMAN or not locked.bot_paused:
            conversation_take_over(locked, user=user if locked.assigned_to_id is None else None)
        for index, outbound in enumerate(outbounds):
            try:
                message = message_queue_outbound(conversation=locked, outbound=outbound, sent_by_id=user.pk)
            except OutboundValidationError as exc:
                raise SendRefused(str(exc)) from exc
            if media and index in media:
                _attach_stored_file(message, *media[index])
            messages.append(message)
    return messages


def _attach_stored_file(message: Message, name: str, mime_type: str, size: int) -> None:
    """Show the agent's file in the console (the private copy the pipeline uploads from)."""
    message.media_file.name, message.media_mime, message.media_size = name, mime_type, size
    message.media_state = "stored"
    message.save(update_fields=["media_file", "media_mime", "media_size", "media_state", "updated_at"])
    events.broadcast_on_commit(
        groups=events.groups_for(message.conversation),
        name=events.MESSAGE_UPDATED,
        data=message_event_data(message),
    )


def agent_send(*, conversation: Conversation, user: Any, outbound: OutboundMessage) -> Message:
    """Send a text, buttons or list message as ``user``; raises WindowClosed or SendRefused."""
    if outbound.kind not in ("text", "buttons", "list"):
        raise SendRefused(_("Unknown message kind."), field="kind")
    if not outbound.text.strip():
        raise SendRefused(_("Write a message."), field="text")
    return _queue(conversation=conversation, user=user, outbounds=[outbound])[0]


def agent_send_attachment(
    *, conversation: Conversation, user: Any, content: bytes, filename: str, caption: str = "", claimed_mime: str = ""
) -> Message:
    """Send a file: its type is judged by its bytes, its size by WhatsApp's limit for that type.

    Stored privately under MEDIA_ROOT (never public); the pipeline uploads it to the provider.
    """
    if not content:
        raise SendRefused(_("The file is empty."), field="file")
    sniffed = media_sniff(content, claimed_mime=claimed_mime)
    kind = attachment_kind(sniffed.mime_type) if sniffed.known else None
    if kind is None:
        raise SendRefused(
            _("WhatsApp does not accept this file type: send an image (JPEG, PNG), audio, video (MP4) or a document."),
            field="file",
        )
    limit = _max_bytes(kind)
    if len(content) > limit:
        raise SendRefused(
            _("The file is too large: WhatsApp takes files of this type up to %(mb)s MB.")
            % {"mb": settings.CONSOLE_UPLOAD_MAX_MB[kind]},
            field="file",
        )
    outbound = OutboundMessage(
        kind=kind,
        to="",
        caption=caption.strip() if kind != "audio" else "",
        filename=_safe_filename(filename, sniffed.extension) if kind == "document" else "",
    )
    _refuse_outside_window(conversation, outbound)  # before the file is written
    now = timezone.now()
    path = f"outbound/{conversation.channel_id}/{now:%Y/%m}/{secrets.token_hex(16)}.{sniffed.extension}"
    name = default_storage.save(path, ContentFile(content))
    outbound = replace(outbound, media_path=name)
    return _queue(
        conversation=conversation,
        user=user,
        outbounds=[outbound],
        media={0: (name, sniffed.mime_type, len(content))},
    )[0]


def _safe_filename(filename: str, extension: str) -> str:
    """The name the customer sees for a document: the agent's, without path parts or control characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()[:200]
    return base or f"document.{extension}"


def agent_send_quick_reply(*, conversation: Conversation, user: Any, quick_reply_id: int) -> list[Message]:
    """A quick reply's text and media, in order, as ``user`` (only one the user may use)."""
    item = quick_reply_get(user=user, quick_reply_id=quick_reply_id)
    if item is None:
        raise SendRefused(_("This quick reply does not exist or is not available to you."), field="quick_reply")
    outbounds: list[OutboundMessage] = []
    if item.text.strip():
        outbounds.append(OutboundMessage(kind="text", to="", text=item.text))
    for media in item.media:
        outbounds.append(
            OutboundMessage(
                kind=media.kind,
                to="",
                caption=media.caption if media.kind != "audio" else "",
                media_path=media.path,
                media_link="" if media.path else media.url,
                filename=media.path.rsplit("/", 1)[-1] if media.kind == "document" and media.path else "",
            )
        )
    if not outbounds:
        raise SendRefused(_("This quick reply has nothing to send."), field="quick_reply")
    return _queue(conversation=conversation, user=user, outbounds=outbounds)


def agent_send_template(
    *, conversation: Conversation, user: Any, template_id: int, variables: dict[str, Any]
) -> Message:
    """An approved template of the chat's channel, with its variables filled (allowed outside the window)."""
    from conversations.services.templates import TemplateVariablesError, template_outbound

    try:
        outbound = template_outbound(conversation=conversation, template_id=template_id, variables=variables)
    except TemplateVariablesError as exc:
        raise SendRefused(str(exc), field=exc.field) from exc
    return _queue(conversation=conversation, user=user, outbounds=[outbound])[0]
