"""Plain-dict views of messages and conversations for console events and APIs."""

from __future__ import annotations

from typing import Any

from conversations.models import Conversation, Message


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


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
        "media_url": message.media_file.url if message.media_file else None,
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
