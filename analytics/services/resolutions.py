"""Resolution times: each closing of a chat is recorded when it happens (conversations keep no history).

``conversation_closing_record`` is connected to Conversation's post_save in AnalyticsConfig.ready():
conversations.services.state writes a status change with ``update_fields``, so a save that names
"status" and leaves the chat closed is a closing. The episode starts at the first customer message
after the previous closing (or the chat's first one), the same clock a customer sees.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Min
from django.utils import timezone

from analytics.models import ConversationClosing
from conversations.models import Conversation, ConversationStatus, Message


def conversation_closing_record(*, conversation: Conversation) -> ConversationClosing:
    """Record that ``conversation`` was closed now."""
    now = timezone.now()
    previous = (
        ConversationClosing.objects.filter(conversation=conversation, closed_at__lte=now)
        .order_by("-closed_at")
        .values_list("closed_at", flat=True)
        .first()
    )
    inbound = Message.objects.filter(conversation=conversation, direction="in", created_at__lte=now)
    if previous is not None:
        inbound = inbound.filter(created_at__gt=previous)
    opened_at = inbound.aggregate(first=Min("created_at"))["first"] or previous or conversation.created_at
    return ConversationClosing.objects.create(conversation=conversation, opened_at=opened_at, closed_at=now)


def on_conversation_saved(*, instance: Conversation, update_fields: Any = None, **_: Any) -> None:
    """post_save receiver: a status change to "closed" is a closing."""
    if update_fields and "status" in update_fields and instance.status == ConversationStatus.CLOSED:
        conversation_closing_record(conversation=instance)
