"""Reads of conversations, always through the user's visibility (conversations.visibility)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from conversations.models import Conversation, ConversationStatus, WebhookDelivery
from conversations.visibility import conversation_visibility_q  # the one rule: selectors, broadcaster, consumer

# Channels whose chats are tests, not customers: the bot simulator ("Try the bot", simulate_chat).
TEST_CHANNEL_PROVIDERS = ("simulator",)


def conversation_test_q() -> Q:
    """The simulator's test chats."""
    return Q(channel__provider__in=TEST_CHANNEL_PROVIDERS)


def conversation_list_for_user(*, user: Any, include_test_chats: bool = True) -> QuerySet[Conversation]:
    """The chats ``user`` may see, most recent first; ``include_test_chats=False`` leaves the simulator's out."""
    conversations = Conversation.objects.filter(conversation_visibility_q(user=user))
    if not include_test_chats:
        conversations = conversations.exclude(conversation_test_q())
    return conversations.select_related("contact", "channel", "assigned_to").order_by("-last_activity_at")


def access_conversation_by_id(*, user: Any, conversation_id: int) -> Conversation:
    """The conversation if the user may see it; the same DoesNotExist for missing and forbidden."""
    return conversation_list_for_user(user=user).get(pk=conversation_id)


def console_summary(*, user: Any, include_test_chats: bool = False) -> dict[str, Any]:
    """Counts and lists for the console's home page.

    The simulator's test chats are left out of every count and list unless ``include_test_chats``;
    ``test_chats`` says how many there are either way, for the toggle that shows them.
    """
    listed = conversation_list_for_user(user=user, include_test_chats=include_test_chats)
    visible = Conversation.objects.filter(pk__in=listed.order_by().values("pk"))
    all_visible = Conversation.objects.filter(pk__in=conversation_list_for_user(user=user).order_by().values("pk"))
    by_status = dict(visible.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "total": sum(by_status.values()),
        "by_status": [(label, by_status.get(value, 0)) for value, label in ConversationStatus.choices],
        "unread": visible.filter(unread_count__gt=0).count(),
        "needs_attention": visible.filter(needs_attention=True).count(),
        "attention": list(listed.filter(needs_attention=True)[:10]),
        "recent": list(listed.exclude(last_activity_at__isnull=True)[:10]),
        "include_test_chats": include_test_chats,
        "test_chats": all_visible.filter(conversation_test_q()).count(),
        "rejected_deliveries": WebhookDelivery.objects.filter(state="rejected").count() if user.is_staff else None,
    }
