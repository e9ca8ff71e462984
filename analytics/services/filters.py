"""The dashboard's filters and the rows they select, always through the user's visibility.

Every metric reads ``Scope``: the chats the user may see (``conversation_visibility_q``, the
console's one rule), without the bot simulator's test chats, narrowed by channel, role and
number, and a date range of whole days in the business's time zone (settings.TIME_ZONE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.selectors import TEST_CHANNEL_PROVIDERS
from conversations.visibility import conversation_visibility_q

__all__ = ["DEFAULT_DAYS", "MAX_DAYS", "MetricFilters", "Scope", "default_range", "metric_scope"]

DEFAULT_DAYS = 30  # the last 30 days, today included
MAX_DAYS = 366  # a longer range is refused: every metric reads the range's messages


def business_zone() -> tzinfo:
    return ZoneInfo(settings.TIME_ZONE)


def default_range(*, today: date | None = None) -> tuple[date, date]:
    """The last DEFAULT_DAYS days in the business's time zone, today included."""
    end = today or timezone.localdate(timezone=business_zone())
    return end - timedelta(days=DEFAULT_DAYS - 1), end


@dataclass(frozen=True)
class MetricFilters:
    """What the dashboard asked for: whole days ``start``..``end`` (both included) and optional narrowing."""

    start: date
    end: date
    channel_id: int | None = None
    role_id: int | None = None
    number: str = ""  # digits a contact's number contains

    @property
    def zone(self) -> tzinfo:
        return business_zone()

    @property
    def since(self) -> datetime:
        """The first instant of ``start`` in the business's time zone (aware)."""
        return datetime.combine(self.start, time.min, tzinfo=self.zone)

    @property
    def until(self) -> datetime:
        """The first instant after ``end`` (aware; the range is [since, until))."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.zone)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def as_dict(self) -> dict[str, Any]:
        """The filters as applied, for the JSON answer."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "channel": self.channel_id,
            "role": self.role_id,
            "number": self.number or None,
            "time_zone": settings.TIME_ZONE,
        }


@dataclass(frozen=True)
class Scope:
    """The rows one user's dashboard reads with one set of filters."""

    user: Any
    filters: MetricFilters

    def conversations(self) -> QuerySet[Conversation]:
        """The chats the user may see, customers only, narrowed by channel, role and number (any activity)."""
        from accounts.models import ChatRole

        chats = Conversation.objects.filter(conversation_visibility_q(user=self.user)).exclude(
            channel__provider__in=TEST_CHANNEL_PROVIDERS
        )
        f = self.filters
        if f.channel_id is not None:
            chats = chats.filter(channel_id=f.channel_id)
        if f.role_id is not None:
            chats = chats.filter(Exists(ChatRole.objects.filter(conversation_id=OuterRef("pk"), role_id=f.role_id)))
        if f.number:
            chats = chats.filter(Q(contact__phone__contains=f.number) | Q(contact__external_id__contains=f.number))
        return chats.order_by()

    def messages(self) -> QuerySet[Message]:
        """The messages of those chats created in the range (read through the created_at indexes)."""
        f = self.filters
        return Message.objects.filter(
            created_at__gte=f.since, created_at__lt=f.until, conversation_id__in=self.conversations().values("pk")
        ).order_by()

    def active_conversations(self) -> QuerySet[Conversation]:
        """The chats with at least one message in the range."""
        f = self.filters
        in_range = Message.objects.filter(
            conversation_id=OuterRef("pk"), created_at__gte=f.since, created_at__lt=f.until
        )
        return self.conversations().filter(Exists(in_range))


def metric_scope(*, user: Any, filters: MetricFilters) -> Scope:
    return Scope(user=user, filters=filters)
