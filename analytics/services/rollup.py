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
from time import monotonic
from time import sleep as time_sleep
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Case, CharField, Count, Func, IntegerField, Max, Q, Value, When

from analytics.models import ChatHour, ChatHourKind, FirstResponse, RollupMark
from analytics.services.replies import AI_REPLY, HUMAN_REPLY, REPLY, first_response_times
from conversations.models import Message

__all__ = [
    "CATCH_UP_BATCH",
    "CATCH_UP_OVERLAP",
    "PASS_REST",
    "RollupReport",
    "rollup_all",
    "rollup_catch_up",
    "rollup_high_id",
]

#: Message ids read per batch. Each batch's rows are written in one short transaction: on SQLite it holds the
#: only write lock, which the webhook and the pipeline wait for.
CATCH_UP_BATCH = 200
#: The periodic pass rests this many times as long as each batch took before the next one, so that the
#: pipeline sharing its core is never kept waiting long (bench/e2e_pipeline.sh at 80 messages/s: p99 121 ms
#: with 5,000-id batches back to back, 13 ms without the task).
PASS_REST = 2.0
#: Ids below the mark that each pass reads again: on MySQL/MariaDB transactions commit out of id order. SQLite
#: has one writer at a time, so its ids become visible in order and nothing needs reading again.
CATCH_UP_OVERLAP = 2_000

_MARK_PK = 1


@dataclass(frozen=True)
class RollupReport:
    messages: int  # message ids read (the overlap included)
    high_id: int  # the mark after the pass
    first_responses: int  # first responses recorded


def _zone_name() -> str:
    return str(settings.TIME_ZONE)


def _overlap() -> int:
    return CATCH_UP_OVERLAP if connection.vendor != "sqlite" else 0


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
    *,
    batch: int = CATCH_UP_BATCH,
    max_batches: int = 1_000,
    until_id: int | None = None,
    rest: float = 0.0,
    clock: Callable[[], float] = monotonic,
    sleep: Callable[[float], None] = time_sleep,
) -> RollupReport:
    """Read the messages above the mark (less the overlap) into the summaries, ``batch`` ids at a time.

    At most ``max_batches`` batches per call; the next call goes on where this one stopped. ``until_id``
    stops at that id (the benchmark leaves the newest messages to be read directly, as between passes).
    ``rest``: after each batch, sleep ``rest`` times as long as it took (the periodic task: PASS_REST).
    """
    newest = Message.objects.aggregate(newest=Max("pk"))["newest"] or 0
    if until_id is not None:
        newest = min(newest, until_id)
    with transaction.atomic():
        mark = _locked_mark()
        if mark.zone != _zone_name():
            _forget_all(mark)
        low = max(mark.high_id - _overlap(), 0)
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
        started = clock()
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
        if rest and low < newest:
            sleep(rest * (clock() - started))
    return RollupReport(messages=read, high_id=max(high, rollup_high_id()), first_responses=recorded)


def rollup_all(
    *, rebuild: bool = False, batch: int = 5_000, progress: Callable[[int, int], None] | None = None
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


class _EpochQuarter(Func):
    """The quarter-hour of a UTC datetime, counted from 1970 (native SQL, no per-row time-zone function: on
    SQLite Django's Trunc/Extract with a tzinfo call back into Python for every row). Every time zone's
    offset is a multiple of 15 minutes, so a quarter-hour lies in one hour of the business's day."""

    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(CAST(strftime('%%s', {sql}) AS INTEGER) / 900)", params

    def as_mysql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', {sql}) DIV 900)", params


class _LocalHours:
    """Quarter-hours (``_EpochQuarter``) to the business's (day, hour), each worked out once."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._known: dict[int, tuple[date, int]] = {}

    def __call__(self, quarter: int) -> tuple[date, int]:
        found = self._known.get(quarter)
        if found is None:
            local = datetime.fromtimestamp(quarter * 900, tz=self.zone)
            found = self._known[quarter] = (local.date(), local.hour)
        return found


_ORIGIN = Case(
    When(~REPLY, then=Value("")),
    When(HUMAN_REPLY, then=Value("human")),
    When(AI_REPLY, then=Value("ai")),
    default=Value("bot"),
    output_field=CharField(),
)


@dataclass(frozen=True)
class _Counted:
    """A batch's counts, to be written in place of its chat-days' rows."""

    chats: list[int]
    days: set[date]
    hours: list[tuple]  # ChatHour's _HOUR_COLUMNS
    kinds: list[tuple]  # ChatHourKind's _KIND_COLUMNS
    responses: list[FirstResponse]


_HOUR_COLUMNS = ("conversation_id", "channel_id", "day", "hour", "inbound", "outbound", "replies_bot",
                 "replies_ai", "replies_human")  # fmt: skip
_KIND_COLUMNS = ("conversation_id", "channel_id", "day", "hour", "kind", "messages")


def _count_ids(low: int, high: int, *, upto: int, zone: ZoneInfo) -> _Counted:
    """Count again the chat-days touched by the messages ``low`` < id <= ``high``, with every message up to
    ``upto``, and their agents' first responses (reads only)."""
    local = _LocalHours(zone)
    touched = (
        Message.objects.filter(pk__gt=low, pk__lte=high)
        .annotate(quarter=_EpochQuarter("created_at"))
        .values_list("conversation_id", "quarter")
        .distinct()
        .order_by()
    )
    days_of: dict[int, set[date]] = defaultdict(set)
    for conversation_id, quarter in touched:
        days_of[conversation_id].add(local(quarter)[0])
    if not days_of:
        return _Counted(chats=[], days=set(), hours=[], kinds=[], responses=[])
    chats = list(days_of)
    all_days = set().union(*days_of.values())
    since, until = _day_bounds(all_days, zone)
    # Every hour of each touched chat-day is counted (the range covers every day of the set for every chat
    # named, so rows of other chat-days in the same sets are written back as they were).
    groups = (
        Message.objects.filter(conversation_id__in=chats, created_at__gte=since, created_at__lt=until, pk__lte=upto)
        .annotate(quarter=_EpochQuarter("created_at"), origin=_ORIGIN)
        .values_list("conversation_id", "conversation__channel_id", "quarter", "direction", "kind", "origin")
        .annotate(n=Count("pk"))
        .order_by()
    )
    hours: dict[tuple, list[int]] = {}
    kinds: dict[tuple, int] = defaultdict(int)
    for chat, channel, quarter, direction, kind, origin, n in groups:
        day, hour = local(quarter)
        if day not in all_days:
            continue
        counts = hours.setdefault((chat, channel, day, hour), [0, 0, 0, 0, 0])
        counts[0 if direction == "in" else 1] += n
        if origin:
            counts[{"bot": 2, "ai": 3, "human": 4}[origin]] += n
        kinds[(chat, channel, day, hour, kind)] += n
    replies = Message.objects.filter(pk__gt=low, pk__lte=high, direction="out", sent_by__isnull=False)
    found = first_response_times(replies).values_list(
        "pk", "conversation_id", "conversation__channel_id", "created_at", "wait"
    )
    return _Counted(
        chats=chats,
        days=all_days,
        hours=[(*key, *counts) for key, counts in hours.items()],
        kinds=[(*key, n) for key, n in kinds.items()],
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
    _insert(ChatHour, _HOUR_COLUMNS, counted.hours)
    _insert(ChatHourKind, _KIND_COLUMNS, counted.kinds)
    FirstResponse.objects.bulk_create(counted.responses, ignore_conflicts=True, batch_size=1000)


def _insert(model: type[models.Model], columns: tuple[str, ...], rows: list[tuple]) -> None:
    """One multi-row INSERT per thousand rows (the ORM's bulk_create prepares every value through its field:
    most of a pass's CPU on SQLite)."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(c.removesuffix("_id")).column) for c in columns)
    table = quote(model._meta.db_table)
    day = columns.index("day")
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(chunk))
            params = [v.isoformat() if i == day else v for row in chunk for i, v in enumerate(row)]
            cursor.execute(f"INSERT INTO {table} ({names}) VALUES {values}", params)  # noqa: S608 - quoted names
