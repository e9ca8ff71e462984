"""Reads of conversations, always through the user's visibility (roles)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from conversations.models import Conversation, ConversationStatus, WebhookDelivery


def conversation_visibility_q(*, user: Any) -> Q:
    """Which chats an agent may see: their roles' chats, chats assigned to them, and unrouted chats.

    Superusers see every chat.
    """
    if user.is_superuser:
        return Q()
    role_ids = list(user.roles.values_list("id", flat=True))
    return Q(roles__in=role_ids) | Q(assigned_to=user) | Q(roles__isnull=True)


def conversation_list_for_user(*, user: Any) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(conversation_visibility_q(user=user))
        .select_related("contact", "channel", "assigned_to")
        .distinct()
        .order_by("-last_activity_at")
    )


def access_conversation_by_id(*, user: Any, conversation_id: int) -> Conversation:
    """The conversation if the user may see it; the same DoesNotExist for missing and forbidden."""
    return conversation_list_for_user(user=user).get(pk=conversation_id)


def console_summary(*, user: Any) -> dict[str, Any]:
    """Counts for the console's home page."""
    visible = Conversation.objects.filter(pk__in=conversation_list_for_user(user=user).order_by().values("pk"))
    by_status = dict(visible.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "total": sum(by_status.values()),
        "by_status": [(label, by_status.get(value, 0)) for value, label in ConversationStatus.choices],
        "unread": visible.filter(unread_count__gt=0).count(),
        "needs_attention": visible.filter(needs_attention=True).count(),
        "recent": list(conversation_list_for_user(user=user).exclude(last_activity_at__isnull=True)[:10]),
        "rejected_deliveries": WebhookDelivery.objects.filter(state="rejected").count() if user.is_staff else None,
    }
