"""Reads of conversations, always through the user's visibility (conversations.visibility)."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from conversations.models import Conversation, ConversationStatus, Message, WebhookDelivery
from conversations.visibility import conversation_visibility_q  # the one rule: selectors, broadcaster, consumer

# Characters with a meaning in MySQL's boolean full-text syntax: searched words are plain words.
_FULLTEXT_UNSAFE = re.compile(r"[+\-<>()~*\"@]")

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


STATUS_FILTERS = ("bot", "ai", "human", "closed")


def _search_words(query: str) -> list[str]:
    return [word for word in query.split() if word][:8]


def message_text_match(query: str) -> QuerySet[Message] | RawSQL:
    """The conversation ids with a message whose text contains ``query``.

    MySQL/MariaDB use the message text's FULLTEXT index (every word, as a prefix: "pedi" finds
    "pedido"); other databases a substring match.
    """
    messages = Message.objects.all()
    if connection.vendor == "mysql":
        # InnoDB indexes words of 3 characters or more (innodb_ft_min_token_size): shorter ones cannot match.
        words = [w for w in _FULLTEXT_UNSAFE.sub(" ", " ".join(_search_words(query))).split() if len(w) >= 3]
        if not words:
            return messages.none().values("conversation_id")
        against = " ".join(f"+{w}*" for w in words)
        table, text = Message._meta.db_table, Message._meta.get_field("text").column
        conversation = Message._meta.get_field("conversation").column
        quote = connection.ops.quote_name
        return RawSQL(  # noqa: S611 - names from the model, the search text is a bound parameter
            f"SELECT {quote(conversation)} FROM {quote(table)} WHERE MATCH({quote(text)}) AGAINST (%s IN BOOLEAN MODE)",  # noqa: S608
            [against],
        )
    return messages.filter(text__icontains=query).values("conversation_id")


def conversation_search_q(query: str) -> Q:
    """Chats whose contact's alias, profile name or number, or one of whose messages, contains ``query``."""
    query = query.strip()[:100]
    contact = Q(contact__alias__icontains=query) | Q(contact__profile_name__icontains=query)
    digits = "".join(ch for ch in query if ch.isdigit())
    if digits and len(digits) >= len(query.replace("+", "").replace(" ", "").replace("-", "")):
        contact |= Q(contact__phone__contains=digits) | Q(contact__external_id__contains=digits)
    return contact | Q(pk__in=message_text_match(query))


def conversation_list_filtered(
    *,
    user: Any,
    status: str = "",
    role_id: int | None = None,
    unrouted: bool = False,
    unread: bool = False,
    attention: bool = False,
    query: str = "",
) -> QuerySet[Conversation]:
    """The console's chat list: what ``user`` may see, narrowed by the filters, newest activity first."""
    from accounts.models import ChatRole

    conversations = conversation_list_for_user(user=user)
    if status:
        conversations = conversations.filter(status=status)
    if role_id is not None:
        conversations = conversations.filter(pk__in=ChatRole.objects.filter(role_id=role_id).values("conversation_id"))
    if unrouted:
        conversations = conversations.filter(~Exists(ChatRole.objects.filter(conversation_id=OuterRef("pk"))))
    if unread:
        conversations = conversations.filter(unread_count__gt=0)
    if attention:
        conversations = conversations.filter(needs_attention=True)
    if query.strip():
        conversations = conversations.filter(conversation_search_q(query))
    return conversations.order_by("-last_activity_at", "-id")


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
