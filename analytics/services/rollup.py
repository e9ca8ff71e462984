"""The dashboard's summary tables, filled behind the pipeline: counts per chat and hour, and first responses.

The dashboard's counts over a month of a busy business read hundreds of thousands of messages; at
2,000,000 messages that took 0.5 to 14 s per chart (bench/dashboard_api.sh). So a periodic task
(:func:`rollup_catch_up`, every ANALYTICS_ROLLUP_INTERVAL seconds) keeps, for each chat and each hour of
the business's day (settings.TIME_ZONE):

- :class:`~analytics.models.ChatHour`: messages in and out, and the replies by the bot, the AI and people;
- :class:`~analytics.models.ChatHourKind`: messages by type;
- :class:`~analytics.models.FirstResponse`: each agent's first response with the customer's wait.

Nothing on the pipeline's path writes them: the pass reads new messages by id, like the console's
search copy (conversations.services.search_index). Each batch of ids names the chats and hours it
touches, and those hours are counted again from the message table, so a pass is idempotent: it can be
repeated, stopped, or run twice at once (the mark's row lock makes them take turns). Every summary
row counts the messages with an id up to :func:`rollup_high_id`; the dashboard reads the messages
above it from the message table itself (a short primary-key range), so its figures are exact
and never wait for the task. Ranges are read again from ``CATCH_UP_OVERLAP`` ids below the mark,
because a transaction that took a smaller id may commit after a larger one was read.

What the summaries count never changes after a message's INSERT: its chat, time, direction, type and
who wrote it (an AI answer is labelled in the same transaction). What does change (delivery status,
transcription, "unmatched") the dashboard reads from indexed columns of the message table instead.
Deleting a chat deletes its rows (CASCADE). A single message deleted by hand, or anything else that
leaves the summaries behind, is mended by ``manage.py dashboard_rollup --rebuild`` (:func:`rollup_all`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.db.models.functions import ExtractHour, TruncDate

from analytics.models import ChatHour, ChatHourKind, FirstResponse, RollupMark
from analytics.services.replies import AI_REPLY, BOT_REPLY, HUMAN_REPLY, REPLY, first_response_times
from conversations.models import Message

__all__ = [
    "CATCH_UP_BATCH",
    "CATCH_UP_OVERLAP",
    "RollupReport",
    "rollup_all",
    "rollup_catch_up",
    "rollup_high_id",
]

#: Message ids read per batch (one transaction each).
CATCH_UP_BATCH = 5_000
#: Ids below the mark that each pass reads again (transactions commit out of id order).
CATCH_UP_OVERLAP = 2_000

_MARK_PK = 1


@dataclass(frozen=True)
class RollupReport:
    messages: int  # message ids read (the overlap included)
    high_id: int  # the mark after the pass
    first_responses: int  # first responses recorded


def _zone_name() -> str:
    return str(settings.TIME_ZONE)


def _mark_high_id() -> int:
    return RollupMark.objects.filter(pk=_MARK_PK).values_list("high_id", flat=True).first() or 0


def rollup_high_id() -> int:
    """The summaries count every message up to this id (0: none, or cut in another time zone)."""
    row = RollupMark.objects.filter(pk=_MARK_PK).values_list("high_id", "zone").first()
    if row is None or row[1] != _zone_name():
        return 0
    return int(row[0])


def _locked_mark() -> RollupMark:
    RollupMark.objects.get_or_create(pk=_MARK_PK, defaults={"zone": _zone_name()})
    return RollupMark.objects.select_for_update().get(pk=_MARK_PK)


def _forget_all(mark: RollupMark) -> None:
    """Empty the hour summaries (first responses do not depend on the time zone) and start over."""
    ChatHour.objects.all().delete()
    ChatHourKind.objects.all().delete()
    mark.high_id = 0
    mark.zone = _zone_name()
    mark.save(update_fields=["high_id", "zone", "updated_at"])


def rollup_catch_up(
    *, batch: int = CATCH_UP_BATCH, max_batches: int = 200, until_id: int | None = None
) -> RollupReport:
    """Read the messages above the mark (less the overlap) into the summaries, ``batch`` ids at a time.

    At most ``max_batches`` batches per call; the next call goes on where this one stopped. ``until_id``
    stops at that id (the benchmark leaves the newest messages to be read directly, as between passes).
    """
    newest = Message.objects.aggregate(newest=Max("pk"))["newest"] or 0
    if until_id is not None:
        newest = min(newest, until_id)
    with transaction.atomic():
        mark = _locked_mark()
        if mark.zone != _zone_name():
            _forget_all(mark)
        low = max(mark.high_id - CATCH_UP_OVERLAP, 0)
    read = recorded = 0
    high = low
    zone = _zone_name()
    for _ in range(max_batches):
        if low >= newest:
            break
        high = min(low + batch, newest)
        # Counted outside the write transaction: on SQLite a transaction holds the only write lock, and the
        # pipeline's writes would wait for the reads. Written only if no other pass moved the mark past
        # what these rows count meanwhile (then the batch is counted again).
        upto = max(high, _mark_high_id())
        counted = _count_ids(low, high, upto=upto, zone=ZoneInfo(zone))
        with transaction.atomic():
            mark = _locked_mark()
            if mark.zone != zone:
                break
            if mark.high_id > upto:
                continue
            _write(counted)
            if upto != mark.high_id:
                mark.high_id = upto
                mark.save(update_fields=["high_id", "updated_at"])
        recorded += len(counted.responses)
        read += high - low
        low = high
    return RollupReport(messages=read, high_id=max(high, rollup_high_id()), first_responses=recorded)


def rollup_all(
    *, rebuild: bool = False, batch: int = 20_000, progress: Callable[[int, int], None] | None = None
) -> RollupReport:
    """Catch up with every message now (``rebuild``: forget the summaries and count everything again, after a
    message was deleted by hand, say). ``progress`` is called with (the mark, the newest id) as it goes."""
    if rebuild:
        with transaction.atomic():
            _forget_all(_locked_mark())
            FirstResponse.objects.all().delete()
    newest = Message.objects.aggregate(newest=Max("pk"))["newest"] or 0
    total = RollupReport(messages=0, high_id=rollup_high_id(), first_responses=0)
    while total.high_id < newest:
        report = rollup_catch_up(batch=batch, max_batches=10)
        total = RollupReport(
            messages=total.messages + report.messages,
            high_id=report.high_id,
            first_responses=total.first_responses + report.first_responses,
        )
        if progress is not None:
            progress(report.high_id, newest)
        if report.messages == 0:
            break
    return total


def _day_bounds(days: Iterable[date], zone: ZoneInfo) -> tuple[datetime, datetime]:
    first, last = min(days), max(days)
    return (
        datetime.combine(first, time.min, tzinfo=zone),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
    )


@dataclass(frozen=True)
class _Counted:
    """A batch's counts, to be written in place of its chat-days' rows."""

    chats: list[int]
    days: set[date]
    hours: list[ChatHour]
    kinds: list[ChatHourKind]
    responses: list[FirstResponse]


def _count_ids(low: int, high: int, *, upto: int, zone: ZoneInfo) -> _Counted:
    """Count again the chat-days touched by the messages ``low`` < id <= ``high``, with every message up to
    ``upto``, and their agents' first responses (reads only)."""
    touched = (
        Message.objects.filter(pk__gt=low, pk__lte=high)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values_list("conversation_id", "day")
        .distinct()
        .order_by()
    )
    days_of: dict[int, set[date]] = defaultdict(set)
    for conversation_id, day in touched:
        days_of[conversation_id].add(day)
    if not days_of:
        return _Counted(chats=[], days=set(), hours=[], kinds=[], responses=[])
    chats = list(days_of)
    all_days = set().union(*days_of.values())
    since, until = _day_bounds(all_days, zone)
    counted = (
        Message.objects.filter(conversation_id__in=chats, created_at__gte=since, created_at__lt=until, pk__lte=upto)
        .annotate(day=TruncDate("created_at", tzinfo=zone), hour=ExtractHour("created_at", tzinfo=zone))
        .order_by()
    )
    hours = counted.values("conversation_id", "conversation__channel_id", "day", "hour").annotate(
        inbound=Count("pk", filter=Q(direction="in")),
        outbound=Count("pk", filter=Q(direction="out")),
        replies_bot=Count("pk", filter=REPLY & BOT_REPLY),
        replies_ai=Count("pk", filter=REPLY & AI_REPLY),
        replies_human=Count("pk", filter=REPLY & HUMAN_REPLY),
    )
    kinds = counted.values("conversation_id", "conversation__channel_id", "day", "hour", "kind").annotate(
        messages=Count("pk")
    )
    replies = Message.objects.filter(pk__gt=low, pk__lte=high, direction="out", sent_by__isnull=False)
    found = first_response_times(replies).values_list(
        "pk", "conversation_id", "conversation__channel_id", "created_at", "wait"
    )
    return _Counted(
        chats=chats,
        days=all_days,
        # Every hour of each touched chat-day is counted (the range covers every day of the set for every
        # chat named, so rows of other chat-days in the same sets are written back as they were).
        hours=[ChatHour(**_channel_named(row)) for row in hours if row["day"] in all_days],
        kinds=[ChatHourKind(**_channel_named(row)) for row in kinds if row["day"] in all_days],
        responses=[
            FirstResponse(message_id=pk, conversation_id=chat, channel_id=channel, replied_at=at, wait=wait)
            for pk, chat, channel, at, wait in found
        ],
    )


def _write(counted: _Counted) -> None:
    """Replace the rows of the batch's chat-days with its counts (inside the caller's transaction)."""
    if not counted.chats:
        return
    in_days = Q(conversation_id__in=counted.chats, day__in=counted.days)
    ChatHour.objects.filter(in_days).delete()
    ChatHourKind.objects.filter(in_days).delete()
    ChatHour.objects.bulk_create(counted.hours, batch_size=1000)
    ChatHourKind.objects.bulk_create(counted.kinds, batch_size=1000)
    FirstResponse.objects.bulk_create(counted.responses, ignore_conflicts=True, batch_size=1000)


def _channel_named(row: dict) -> dict:
    row["channel_id"] = row.pop("conversation__channel_id")
    return row
