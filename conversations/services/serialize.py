"""Plain-dict views of messages and conversations for console events and APIs."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from conversations.models import Conversation, Message


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def message_media_url(message: Message) -> str | None:
    """Where a user who may see the chat opens the message's file (never a public path)."""
    return reverse("message-media", args=[message.pk]) if message.media_file else None


def message_event_data(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "kind": message.kind,
        "text": message.text,
        "caption": message.caption,
        "status": message.status,
        "error": message.error_message,
        "media_url": message_media_url(message),
        # Read only when there is a file: outbound flushes load few columns (no extra query per send).
        "media_checksum_mismatch": bool(message.media_file) and message.media_checksum_mismatch,
        "media_mime": message.media_mime,
        "transcription": message.transcription,
        "created_at": _iso(message.created_at),
    }


def conversation_event_data(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "contact": str(conversation.contact),
        "status": conversation.status,
        "step": conversation.step,
        "bot_paused": conversation.bot_paused,
        "unread_count": conversation.unread_count,
        "last_message_preview": conversation.last_message_preview,
        "last_activity_at": _iso(conversation.last_activity_at),
    }
