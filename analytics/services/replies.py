"""Who wrote a reply, and how long the customer waited for an agent: the definitions the dashboard's
metrics and its summary tables (analytics.services.rollup) share, so both count the same way.

- Replies: outbound messages that are not system notices. *Human*: sent by an agent in the console,
  or typed outside the product (a Chatwoot agent, the Instagram app: ``data.echo``). *AI*: the catalog
  AI's answers (``data.ai_log``). *Bot*: every other reply (rules, global commands, the flow's fallback).
- First response: an agent's reply that is the first human reply after a customer message; its time
  runs from the first message of that customer's turn (the customer messages since the last reply of
  anyone before their latest message) to the agent's reply.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from conversations.models import Message, MessageKind

__all__ = ["AI_REPLY", "BOT_REPLY", "HUMAN_REPLY", "REPLY", "first_response_times"]

REPLY = Q(direction="out") & ~Q(kind=MessageKind.SYSTEM)
HUMAN_REPLY = Q(sent_by__isnull=False) | Q(data__has_key="echo")
AI_REPLY = Q(data__has_key="ai_log") & ~HUMAN_REPLY
BOT_REPLY = ~HUMAN_REPLY & ~Q(data__has_key="ai_log")

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # before any message


def first_response_times(replies: QuerySet[Message]) -> QuerySet[Message]:
    """Those of ``replies`` (outbound messages) that are agents' first responses, each annotated with
    ``wait`` (a duration). See the module doc."""
    same_chat = Message.objects.filter(conversation_id=OuterRef("conversation_id")).order_by()
    last_customer = same_chat.filter(direction="in", created_at__lt=OuterRef("created_at")).order_by(
        "-created_at", "-id"
    )
    last_human = same_chat.filter(HUMAN_REPLY, direction="out", created_at__lt=OuterRef("created_at")).order_by(
        "-created_at", "-id"
    )
    answered = (
        replies.filter(direction="out", sent_by__isnull=False)
        .annotate(
            customer_at=Subquery(last_customer.values("created_at")[:1]),
            human_at=Subquery(last_human.values("created_at")[:1]),
        )
        .filter(customer_at__isnull=False)
        .filter(Q(human_at__isnull=True) | Q(human_at__lt=F("customer_at")))
    )
    # The reply of anyone just before the customer's latest message ends the turn before theirs; their turn
    # starts with their first message after it (after nothing: their first message in the chat).
    turn_before = same_chat.filter(direction="out", created_at__lt=OuterRef("customer_at")).order_by(
        "-created_at", "-id"
    )
    turn_start = same_chat.filter(
        direction="in",
        created_at__lte=OuterRef("customer_at"),
        created_at__gt=Coalesce(OuterRef("before_at"), Value(_EPOCH, output_field=DateTimeField())),
    ).order_by("created_at", "id")
    return (
        answered.annotate(before_at=Subquery(turn_before.values("created_at")[:1]))
        .annotate(started_at=Subquery(turn_start.values("created_at")[:1]))
        .annotate(wait=ExpressionWrapper(F("created_at") - F("started_at"), output_field=DurationField()))
    )
