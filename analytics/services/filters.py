"""The dashboard's filters and the rows they select, always through the user's visibility.

Every metric reads ``Scope``: the chats the user may see (``conversation_visibility_q``, the
console's one rule), without the bot simulator's test chats, narrowed by channel, role and
number, and a date range of whole days in the business's time zone (settings.TIME_ZONE).

Counts are read from the summary tables (analytics.services.rollup) for the messages up to their
mark, ``Scope.high_id``, and from the message table for the ones above it (``recent_messages``); with
the number filter (a few chats) or before the first summary pass, ``high_id`` is 0 and everything is
read from the messages. ``summary_snapshot`` makes the mark and the summaries one consistent read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from analytics.models import ChatHour, ChatHourKind, FirstResponse
from analytics.services.rollup import rollup_high_id
from conversations.models import Channel, Conversation, Message
from conversations.selectors import TEST_CHANNEL_PROVIDERS
from conversations.visibility import conversation_ids_visibility_q, conversation_visibility_q

__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "MetricFilters",
    "Scope",
    "default_range",
    "metric_scope",
    "summary_snapshot",
]

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
    high_id: int = 0  # the summaries count the messages up to this id; 0: read every message

    def with_summaries(self) -> Scope:
        """This scope reading the summaries up to their mark (call inside ``summary_snapshot``). The number
        filter selects a few chats: their messages are read directly, which is exact and quick."""
        if self.filters.number:
            return self
        return replace(self, high_id=rollup_high_id())

    def conversations(self) -> QuerySet[Conversation]:
        """The chats the user may see, customers only, narrowed by channel, role and number (any activity)."""
        from accounts.models import ChatRole

        f = self.filters
        visible = conversation_visibility_q(user=self.user, role_id=f.role_id)
        chats = Conversation.objects.filter(visible).exclude(channel__provider__in=TEST_CHANNEL_PROVIDERS)
        if f.channel_id is not None:
            chats = chats.filter(channel_id=f.channel_id)
        if f.role_id is not None:  # a semi-join: the database starts from the role's chats
            chats = chats.filter(pk__in=ChatRole.objects.filter(role_id=f.role_id).values("conversation_id"))
        if f.number:
            chats = chats.filter(Q(contact__phone__contains=f.number) | Q(contact__external_id__contains=f.number))
        return chats.order_by()

    def messages(self) -> QuerySet[Message]:
        """The messages of those chats created in the range (read through the created_at indexes).

        Scoped by the chats as one subquery: with the visibility as materialised subqueries on the messages
        instead, the planner drove some metrics from the role's chats through every message of theirs
        (unmatched messages for one role: 228 -> 531 ms on bench/dashboard_api.sh's data).
        """
        f = self.filters
        return Message.objects.filter(
            created_at__gte=f.since, created_at__lt=f.until, conversation_id__in=self.conversations().values("pk")
        ).order_by()

    def recent_messages(self) -> QuerySet[Message]:
        """The range's messages the summaries do not count (all of them when ``high_id`` is 0)."""
        return self.messages().filter(pk__gt=self.high_id)

    def _channel_ids(self) -> list[int]:
        """The channels of the scope: customers' ones (not the bot simulator's), narrowed by the filter."""
        channels = Channel.objects.exclude(provider__in=TEST_CHANNEL_PROVIDERS)
        if self.filters.channel_id is not None:
            channels = channels.filter(pk=self.filters.channel_id)
        return list(channels.values_list("pk", flat=True))

    def _chats_q(self) -> Q:
        """The user's visibility and the role filter on a table's ``conversation_id``, as subqueries the
        database reads once (materialised), never a test of every chat."""
        from accounts.models import ChatRole

        role_id = self.filters.role_id
        scope = conversation_ids_visibility_q(user=self.user, role_id=role_id)
        if role_id is not None:
            scope &= Q(conversation_id__in=ChatRole.objects.filter(role_id=role_id).values("conversation_id"))
        return scope

    def _summarised(self) -> Q:
        """The scope as a filter on the summary tables (they carry the chat's channel). The number filter
        does not read the summaries (``with_summaries``)."""
        return Q(channel_id__in=self._channel_ids()) & self._chats_q()

    def chat_hours(self) -> QuerySet[ChatHour]:
        """The summary rows of the range's hours for the scope's chats (none when ``high_id`` is 0)."""
        if not self.high_id:
            return ChatHour.objects.none()
        f = self.filters
        return ChatHour.objects.filter(self._summarised(), day__gte=f.start, day__lte=f.end).order_by()

    def chat_hour_kinds(self) -> QuerySet[ChatHourKind]:
        if not self.high_id:
            return ChatHourKind.objects.none()
        f = self.filters
        return ChatHourKind.objects.filter(self._summarised(), day__gte=f.start, day__lte=f.end).order_by()

    def first_responses(self) -> QuerySet[FirstResponse]:
        """Recorded first responses of the range (those of messages up to ``high_id``)."""
        if not self.high_id:
            return FirstResponse.objects.none()
        f = self.filters
        return FirstResponse.objects.filter(
            self._summarised(), replied_at__gte=f.since, replied_at__lt=f.until, message_id__lte=self.high_id
        ).order_by()

    def active_conversations(self) -> QuerySet[Conversation]:
        """The chats with at least one message in the range."""
        active = Q(pk__in=self.recent_messages().values("conversation_id"))
        if self.high_id:
            active |= Q(pk__in=self.chat_hours().values("conversation_id"))
        return Conversation.objects.filter(active).order_by()


def metric_scope(*, user: Any, filters: MetricFilters) -> Scope:
    return Scope(user=user, filters=filters)


@contextmanager
def summary_snapshot() -> Iterator[None]:
    """One consistent read of the summaries' mark, the summaries and the messages above the mark.

    A pass of the rollup moves the mark and rewrites rows in one transaction; read in separate
    statements, a metric could count a message twice (in a row written after the mark was read, and
    above the mark). On MySQL/MariaDB the transaction is REPEATABLE READ, one snapshot for every
    statement (Django's connections use READ COMMITTED). On SQLite a read transaction is a snapshot, but
    Django opens SQLite transactions IMMEDIATE (settings: the write lock, which the webhook and the
    pipeline would wait for while the dashboard reads), so this one is begun DEFERRED by hand: it never
    takes the write lock. Inside an outer transaction (tests) its isolation stands.
    """
    outermost = not connection.in_atomic_block
    if outermost and connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")  # it only read: nothing to keep or undo
        return
    if outermost and connection.vendor == "mysql":
        # For the next transaction only, so said before it starts (the backend starts it with START TRANSACTION).
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    with transaction.atomic():
        yield
