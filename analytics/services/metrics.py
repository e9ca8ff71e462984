"""The dashboard's metrics: each one a function of a ``Scope`` that the database aggregates.

Every metric returns a ``MetricResult`` (columns, rows, a summary of key figures, and how the page
draws it), the same for the JSON endpoint, the CSV file and the chart. Counts, buckets by day and
hour (in the business's time zone), medians and percentiles are computed by the database: counts of
messages and replies and first responses from the summary tables (analytics.services.rollup) plus the
messages newer than their mark (``Scope.recent_messages``), what changes after a message is stored
(delivery status, transcription, unmatched) from indexed columns of the messages. Nothing loops over
the messages in Python except the word count, which reads a bounded stream (the most recent
``WORDS_SCAN_LIMIT`` customer texts of the range, said on its chart).

Definitions (the tests compute each one by hand on fixed data):

- Replies and first responses: analytics.services.replies.
- Resolution: from the first customer message after the previous closing to the chat's closing
  (recorded when it happens: analytics.models.ConversationClosing).
- Median and p90 by nearest rank: the value at position ceil(p·n) of the sorted times.
- Unmatched: customer messages no rule of their step matched (the flow's fallback), by that step.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay, NullIf, TruncDate
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from analytics.models import ConversationClosing
from analytics.services.filters import Scope, summary_snapshot
from analytics.services.replies import AI_REPLY, HUMAN_REPLY, REPLY, first_response_times
from analytics.services.words import top_words
from conversations.models import ConversationStatus, Direction, MessageKind
from conversations.models.messages import EnrichmentState
from conversations.services.enrichment_types import REASONS

__all__ = ["METRICS", "WORDS_SCAN_LIMIT", "Metric", "MetricResult", "metric_compute"]

WORDS_SCAN_LIMIT = 5000  # customer texts read for the word count: the most recent of the range
WORDS_SHOWN = 30
TOP_NUMBERS = 10


@dataclass(frozen=True)
class Chart:
    """How the page draws a metric: a Chart.js type, the column that labels, the columns drawn."""

    type: str  # "bar", "line", "doughnut", "hbar" (horizontal bars), "week" (one line per weekday)
    label: str | tuple[str, ...]  # one column, or several shown joined
    values: tuple[str, ...]
    stacked: bool = False

    def as_dict(self) -> dict[str, Any]:
        label = self.label if isinstance(self.label, str) else list(self.label)
        return {"type": self.type, "label": label, "values": list(self.values), "stacked": self.stacked}


@dataclass(frozen=True)
class MetricResult:
    columns: tuple[str, ...]
    rows: list[list[Any]]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """A key figure shown on the card: a summary key, how to format it, and what it is."""

    key: str
    kind: str  # "number", "percent", "duration" (seconds), "hour" (0-23)
    label: Promise

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "label": str(self.label)}


@dataclass(frozen=True)
class Metric:
    name: str
    title: Promise
    note: Promise | str
    chart: Chart
    compute: Callable[[Scope], MetricResult]
    figures: tuple[Figure, ...] = ()


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _nearest_rank(values: QuerySet, field_name: str, count: int, p: float) -> Any:
    """The value at position ceil(p·count) of ``values`` sorted by ``field_name``, read by the database."""
    if not count:
        return None
    position = max(1, math.ceil(p * count))
    row = values.order_by(field_name).values_list(field_name, flat=True)[position - 1 : position]
    found = list(row)
    return found[0] if found else None


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else round(value.total_seconds())


def _labelled(choices: Any, counts: dict[str, int], *, keep_empty: bool = False) -> list[list[Any]]:
    """Rows [code, label, count] for known choices (in their order), then unknown codes."""
    labels = dict(choices)
    rows = [[code, str(labels[code]), counts.get(code, 0)] for code in labels if keep_empty or counts.get(code)]
    rows += [[code, code, n] for code, n in counts.items() if code not in labels]
    return rows


# --- messages ---------------------------------------------------------------------------------------


def _direction_counts(scope: Scope, *group: str, recent: QuerySet | None = None) -> Counter:
    """Messages in and out of the scope, by ``group`` (keys of the recent messages' annotations) and
    direction: {(*group values, "in" | "out"): n}. The summaries' rows are added by the caller."""
    counts: Counter = Counter()
    rows = (recent if recent is not None else scope.recent_messages()).values(*group, "direction")
    for row in rows.annotate(n=Count("id")):
        counts[(*(row[g] for g in group), row["direction"])] += row["n"]
    return counts


def messages_per_day(scope: Scope) -> MetricResult:
    """Messages per day of the range (business days), customers' and replies apart; every day listed."""
    f = scope.filters
    recent = scope.recent_messages().annotate(day=TruncDate("created_at", tzinfo=f.zone))
    counts = _direction_counts(scope, "day", recent=recent)
    for day, inbound, outbound in (
        scope.chat_hours().values("day").annotate(i=Sum("inbound"), o=Sum("outbound")).values_list("day", "i", "o")
    ):
        counts[(day, "in")] += inbound
        counts[(day, "out")] += outbound
    rows = [[d.isoformat(), counts[(d, "in")], counts[(d, "out")]] for d in f.days]
    total = sum(r[1] + r[2] for r in rows)
    busiest = max(rows, key=lambda r: (r[1] + r[2], r[0]), default=None) if total else None
    return MetricResult(
        ("day", "inbound", "outbound"),
        rows,
        {
            "messages": total,
            "per_day": round(total / len(rows), 1) if rows else 0,
            "busiest_day": busiest[0] if busiest else None,
        },
    )


def messages_per_hour(scope: Scope) -> MetricResult:
    """Messages by day of the week (1 = Monday .. 7 = Sunday) and hour (0-23), business time."""
    zone = scope.filters.zone
    found: Counter = Counter()
    recent = (
        scope.recent_messages()
        .annotate(weekday=ExtractIsoWeekDay("created_at", tzinfo=zone), hour=ExtractHour("created_at", tzinfo=zone))
        .values("weekday", "hour")
        .annotate(n=Count("id"))
        .values_list("weekday", "hour", "n")
    )
    for weekday, hour, n in recent:
        found[(weekday, hour)] += n
    summed = scope.chat_hours().values("day", "hour").annotate(n=Sum(F("inbound") + F("outbound")))
    for day, hour, n in summed.values_list("day", "hour", "n"):  # at most 24 a day of the range
        found[(day.isoweekday(), hour)] += n
    rows = [[weekday, hour, found[(weekday, hour)]] for weekday in range(1, 8) for hour in range(24)]
    busiest = max(rows, key=lambda r: (r[2], -r[0], -r[1]))
    summary = {"busiest_weekday": busiest[0], "busiest_hour": busiest[1]} if busiest[2] else {}
    return MetricResult(("weekday", "hour", "messages"), rows, summary)


def _in_out(scope: Scope) -> dict[str, int]:
    """Messages of the range in and out: {"in": n, "out": n}."""
    counts = _direction_counts(scope)
    totals = scope.chat_hours().aggregate(i=Sum("inbound"), o=Sum("outbound"))
    return {"in": counts[("in",)] + (totals["i"] or 0), "out": counts[("out",)] + (totals["o"] or 0)}


def directions(scope: Scope) -> MetricResult:
    """Messages received from customers (in) and sent to them (out)."""
    counts = {code: n for code, n in _in_out(scope).items() if n}
    rows = _labelled(Direction.choices, counts, keep_empty=True)
    total = sum(counts.values())
    return MetricResult(
        ("direction", "label", "messages"),
        rows,
        {"messages": total, "inbound_share": _rate(counts.get("in", 0), total)},
    )


def message_types(scope: Scope) -> MetricResult:
    """Messages by type (text, interactive reply, image, audio...), most frequent first."""
    counts: Counter = Counter()
    for kind, n in scope.recent_messages().values("kind").annotate(n=Count("id")).values_list("kind", "n"):
        counts[kind] += n
    for kind, n in scope.chat_hour_kinds().values("kind").annotate(n=Sum("messages")).values_list("kind", "n"):
        counts[kind] += n
    rows = sorted(_labelled(MessageKind.choices, dict(counts)), key=lambda r: (-r[2], r[0]))
    return MetricResult(("kind", "label", "messages"), rows, {"types": len(rows)})


_CONTACT_NUMBER = Coalesce(NullIf("conversation__contact__phone", Value("")), "conversation__contact__external_id")
_CONTACT_NAME = Coalesce(NullIf("conversation__contact__alias", Value("")), "conversation__contact__profile_name")


def top_numbers(scope: Scope) -> MetricResult:
    """The contacts with the most messages in the range (both directions); ties by number."""
    recent = (
        scope.recent_messages()
        .values("conversation__contact_id")
        .annotate(
            number=Max(_CONTACT_NUMBER),
            name=Max(_CONTACT_NAME),
            n=Count("id"),
            inbound=Count("id", filter=Q(direction="in")),
        )
    )
    summed = (
        scope.chat_hours()
        .values("conversation__contact_id")
        .annotate(
            number=Max(_CONTACT_NUMBER),
            name=Max(_CONTACT_NAME),
            n=Sum(F("inbound") + F("outbound")),
            inbound=Sum("inbound"),
        )
    )
    # A contact without recent messages is in the top only if it is in the summaries' own top; the
    # contacts with recent messages add their summarised counts, wherever those rank.
    totals: dict[int, dict[str, Any]] = {}
    recent_rows = list(recent)
    recent_ids = [r["conversation__contact_id"] for r in recent_rows]
    for row in [
        *summed.order_by("-n", "number")[:TOP_NUMBERS],
        *(summed.filter(conversation__contact_id__in=recent_ids) if recent_ids else []),
    ]:
        totals.setdefault(row["conversation__contact_id"], row)
    for row in recent_rows:
        total = totals.setdefault(row["conversation__contact_id"], {**row, "n": 0, "inbound": 0})
        total["n"] += row["n"]
        total["inbound"] += row["inbound"]
    ranked = sorted(totals.values(), key=lambda c: (-c["n"], c["number"] or ""))[:TOP_NUMBERS]
    rows = [[c["number"], c["name"] or "", c["n"], c["inbound"], c["n"] - c["inbound"]] for c in ranked]
    return MetricResult(("number", "name", "messages", "inbound", "outbound"), rows, {"shown": len(rows)})


WORDS_FIRST_WINDOW = timedelta(hours=6)  # the newest texts are read first, in windows that double


def _recent_texts(scope: Scope) -> Iterator[str]:
    """The customers' texts of the range, newest first, at most WORDS_SCAN_LIMIT.

    Read in time windows from the end of the range that double in length until enough texts are found:
    each query reads a short stretch of the messages' time index, where one query over the whole range
    had the database sort a month of messages to keep the newest few thousand (2.6 s at 667,000).
    """
    f = scope.filters
    texts = scope.messages().filter(direction="in").exclude(text="", transcription="")
    left, end, window = WORDS_SCAN_LIMIT, f.until, WORDS_FIRST_WINDOW
    while left > 0 and end > f.since:
        start = max(f.since, end - window)
        rows = (
            texts.filter(created_at__gte=start, created_at__lt=end)
            .order_by("-created_at", "-id")
            .values_list("text", "transcription")[:left]
        )
        for text, transcription in rows.iterator(chunk_size=500):
            left -= 1
            yield text or transcription
        end, window = start, window * 2


def frequent_words(scope: Scope) -> MetricResult:
    """Words of the customers' texts (a voice note's transcription counts as its text): the most recent
    WORDS_SCAN_LIMIT messages of the range with text, streamed from the database."""
    scanned = 0

    def counted() -> Iterator[str]:
        nonlocal scanned
        for text in _recent_texts(scope):
            scanned += 1
            yield text

    rows = [[word, n] for word, n in top_words(counted(), limit=WORDS_SHOWN)]
    return MetricResult(
        ("word", "count"),
        rows,
        {"messages_read": scanned, "read_limit": WORDS_SCAN_LIMIT, "limited": scanned >= WORDS_SCAN_LIMIT},
    )


# --- conversations ----------------------------------------------------------------------------------


def conversations_by_role(scope: Scope) -> MetricResult:
    """Chats with messages in the range, by role (a chat with two roles counts in both)."""
    chats = scope.active_conversations()
    counts = chats.values("chat_roles__role_id", "chat_roles__role__name").annotate(n=Count("pk", distinct=True))
    rows = sorted(
        ([c["chat_roles__role__name"] or str(_("Without a role")), c["n"]] for c in counts),
        key=lambda r: (-r[1], r[0]),
    )
    return MetricResult(("role", "conversations"), rows, {"conversations": chats.count()})


def conversations_by_status(scope: Scope) -> MetricResult:
    """Chats with messages in the range, by their status now."""
    counts = dict(scope.active_conversations().values("status").annotate(n=Count("pk")).values_list("status", "n"))
    rows = _labelled(ConversationStatus.choices, counts, keep_empty=True)
    return MetricResult(("status", "label", "conversations"), rows, {"conversations": sum(counts.values())})


# --- who answers ------------------------------------------------------------------------------------

REPLY_ORIGINS = (("bot", _("Bot (rules)")), ("ai", _("AI")), ("human", _("Human agent")))


def reply_origins(scope: Scope) -> MetricResult:
    origin = Case(When(HUMAN_REPLY, then=Value("human")), When(AI_REPLY, then=Value("ai")), default=Value("bot"))
    recent = scope.recent_messages().filter(REPLY).annotate(origin=origin).values("origin").annotate(n=Count("id"))
    found: Counter = Counter(dict(recent.values_list("origin", "n")))
    summed = scope.chat_hours().aggregate(bot=Sum("replies_bot"), ai=Sum("replies_ai"), human=Sum("replies_human"))
    found.update({code: n for code, n in summed.items() if n})
    counts = {code: n for code, n in found.items() if n}
    rows = _labelled(REPLY_ORIGINS, counts, keep_empty=True)
    total = sum(counts.values())
    return MetricResult(
        ("origin", "label", "replies"),
        rows,
        {"replies": total, **{f"{code}_share": _rate(counts.get(code, 0), total) for code, _label in REPLY_ORIGINS}},
    )


RESPONSE_BUCKETS = (
    ("lt_1m", _("< 1 min"), timedelta(minutes=1)),
    ("1_5m", _("1-5 min"), timedelta(minutes=5)),
    ("5_15m", _("5-15 min"), timedelta(minutes=15)),
    ("15_60m", _("15-60 min"), timedelta(hours=1)),
    ("1_4h", _("1-4 h"), timedelta(hours=4)),
    ("gt_4h", _("> 4 h"), None),
)
RESOLUTION_BUCKETS = (
    ("lt_15m", _("< 15 min"), timedelta(minutes=15)),
    ("15_60m", _("15-60 min"), timedelta(hours=1)),
    ("1_4h", _("1-4 h"), timedelta(hours=4)),
    ("4_24h", _("4-24 h"), timedelta(days=1)),
    ("1_3d", _("1-3 days"), timedelta(days=3)),
    ("gt_3d", _("> 3 days"), None),
)


def _durations(parts: list[QuerySet], field_name: str, buckets: tuple, unit: str) -> MetricResult:
    """Rows [bucket, label, count] of the durations ``field_name`` of the querysets ``parts`` (their rows
    together), with count, median and p90."""
    whens = [When(**{f"{field_name}__lt": limit}, then=Value(code)) for code, _label, limit in buckets if limit]
    bucket = Case(*whens, default=Value(buckets[-1][0]))
    counts: Counter = Counter()
    for values in parts:
        for code, n in (
            values.annotate(bucket=bucket).values("bucket").annotate(n=Count("pk")).values_list("bucket", "n")
        ):
            counts[code] += n
    total = sum(counts.values())
    rows = [[code, str(label), counts[code]] for code, label, _limit in buckets]
    together = _union(parts, field_name) if total else None
    return MetricResult(
        ("bucket", "label", unit),
        rows,
        {
            unit: total,
            "median_seconds": _seconds(_nearest_rank(together, field_name, total, 0.5)),
            "p90_seconds": _seconds(_nearest_rank(together, field_name, total, 0.9)),
        },
    )


def _union(parts: list[QuerySet], field_name: str) -> QuerySet:
    """One queryset of the ``field_name`` values of every part (UNION ALL), for the nearest ranks."""
    first, *others = [part.values_list(field_name, flat=True).order_by() for part in parts]
    return first.union(*others, all=True) if others else first


def first_response(scope: Scope) -> MetricResult:
    """Agents' first responses in the range by how long the customer waited, with the median and p90:
    recorded by the rollup up to its mark, computed here for the replies above it."""
    recent = first_response_times(scope.recent_messages())
    if not scope.high_id:
        return _durations([recent], "wait", RESPONSE_BUCKETS, "responses")
    return _durations([scope.first_responses(), recent], "wait", RESPONSE_BUCKETS, "responses")


def resolution(scope: Scope) -> MetricResult:
    """Chats closed in the range: from the first customer message after the previous closing to the closing."""
    f = scope.filters
    closings = ConversationClosing.objects.filter(
        closed_at__gte=f.since, closed_at__lt=f.until, conversation_id__in=scope.conversations().values("pk")
    ).annotate(took=ExpressionWrapper(F("closed_at") - F("opened_at"), output_field=DurationField()))
    return _durations([closings], "took", RESOLUTION_BUCKETS, "closings")


def ai_answers(scope: Scope) -> MetricResult:
    """The catalog AI's answers in customers' chats, per day: how many, how many fell back, how many came from
    the answer cache."""
    from catalog_ai.models import AILog

    f = scope.filters
    logs = AILog.objects.filter(
        created_at__gte=f.since, created_at__lt=f.until, conversation_id__in=scope.conversations().values("pk")
    ).order_by()
    counts = (
        logs.annotate(day=TruncDate("created_at", tzinfo=f.zone))
        .values("day")
        .annotate(
            n=Count("id"), fallback=Count("id", filter=Q(backend="fallback")), cached=Count("id", filter=Q(cached=True))
        )
        .values_list("day", "n", "fallback", "cached")
    )
    by_day = {day: (n, fallback, cached) for day, n, fallback, cached in counts}
    rows = [[d.isoformat(), *by_day.get(d, (0, 0, 0))] for d in f.days]
    answers, fallbacks, cached = (sum(r[i] for r in rows) for i in (1, 2, 3))
    return MetricResult(
        ("day", "answers", "fallbacks", "cached"),
        rows,
        {
            "answers": answers,
            "fallbacks": fallbacks,
            "fallback_rate": _rate(fallbacks, answers),
            "cached": cached,
            "cache_hit_rate": _rate(cached, answers),
        },
    )


FAILED_ENRICHMENT = (EnrichmentState.FAILED, EnrichmentState.SKIPPED, EnrichmentState.UNAVAILABLE)


def transcriptions(scope: Scope) -> MetricResult:
    """Customers' voice notes by what became of their transcription, with the reason when there is none."""
    counts = (
        scope.messages()
        .filter(direction="in", kind=MessageKind.AUDIO)
        .values("enrichment_state", "enrichment_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "enrichment_state", "enrichment_reason")
    )
    states = dict(EnrichmentState.choices)
    rows = []
    for c in counts:
        state, reason = c["enrichment_state"], c["enrichment_reason"]
        label = str(states.get(state, state))
        if reason:
            label = f"{label}: {REASONS.get(reason, reason)}"
        rows.append([state or "none", reason, label, c["n"]])
    total = sum(r[3] for r in rows)
    done = sum(r[3] for r in rows if r[0] == EnrichmentState.DONE)
    failed = sum(r[3] for r in rows if r[0] in FAILED_ENRICHMENT)
    return MetricResult(
        ("state", "reason", "label", "voice_notes"),
        rows,
        {"voice_notes": total, "transcribed": done, "failed": failed, "failure_rate": _rate(failed, total)},
    )


def delivery_failures(scope: Scope) -> MetricResult:
    """Replies that could not be delivered, by the provider's error code (with one of its messages)."""
    counts = (
        scope.messages()
        .filter(direction="out", status="failed")
        .values("error_code")
        .annotate(reason=Max("error_message"), n=Count("id"))
        .order_by("-n", "error_code")
    )
    rows = [[c["error_code"], (c["reason"] or "")[:200], c["n"]] for c in counts]
    failed = sum(r[2] for r in rows)
    sent = _in_out(scope)["out"]
    return MetricResult(
        ("error_code", "reason", "messages"),
        rows,
        {"failed": failed, "outbound": sent, "failure_rate": _rate(failed, sent)},
    )


def unmatched_by_step(scope: Scope) -> MetricResult:
    """Customer messages that no rule of their step matched, by that step: where the flow loses people."""
    counts = (
        scope.messages()
        .filter(direction="in", unmatched_step__isnull=False)
        .values("unmatched_step")
        .annotate(n=Count("id"))
        .values_list("unmatched_step", "n")
    )
    rows = sorted(([step or str(_("(not recorded)")), n] for step, n in counts), key=lambda r: (-r[1], r[0]))
    unmatched = sum(r[1] for r in rows)
    total = _in_out(scope)["in"]
    return MetricResult(
        ("step", "messages"),
        rows,
        {"unmatched": unmatched, "inbound": total, "unmatched_rate": _rate(unmatched, total)},
    )


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "messages_per_day",
            _("Messages per day"),
            _("Customer messages and replies, by day."),
            Chart("bar", "day", ("inbound", "outbound"), stacked=True),
            messages_per_day,
            (Figure("messages", "number", _("messages")), Figure("per_day", "number", _("per day"))),
        ),
        Metric(
            "messages_per_hour",
            _("Messages by hour of the week"),
            _("When customers and the business write: one line per day of the week."),
            Chart("week", "hour", ("messages",)),
            messages_per_hour,
            (Figure("busiest_hour", "hour", _("busiest hour")),),
        ),
        Metric(
            "directions",
            _("Inbound vs outbound"),
            _("Messages received from customers and sent to them."),
            Chart("doughnut", "label", ("messages",)),
            directions,
            (Figure("inbound_share", "percent", _("from customers")),),
        ),
        Metric(
            "message_types",
            _("Message types"),
            _("Text, buttons, images, voice notes..."),
            Chart("hbar", "label", ("messages",)),
            message_types,
            (Figure("types", "number", _("types")),),
        ),
        Metric(
            "top_numbers",
            _("Top numbers"),
            _("The contacts with the most messages."),
            Chart("hbar", ("name", "number"), ("inbound", "outbound"), stacked=True),
            top_numbers,
            (),
        ),
        Metric(
            "frequent_words",
            _("Most frequent words"),
            _(
                "Words of the customers' last %(limit)s texts of the range (voice notes by their transcription),"
                " without Spanish and English stop words, accents folded."
            )
            % {"limit": f"{WORDS_SCAN_LIMIT:,}"},
            Chart("hbar", "word", ("count",)),
            frequent_words,
            (Figure("messages_read", "number", _("messages read")),),
        ),
        Metric(
            "conversations_by_role",
            _("Conversations by role"),
            _("Chats with messages in the range; a chat with two roles counts in both."),
            Chart("hbar", "role", ("conversations",)),
            conversations_by_role,
            (Figure("conversations", "number", _("conversations")),),
        ),
        Metric(
            "conversations_by_status",
            _("Conversations by status"),
            _("Chats with messages in the range, by who has them now."),
            Chart("doughnut", "label", ("conversations",)),
            conversations_by_status,
            (Figure("conversations", "number", _("conversations")),),
        ),
        Metric(
            "reply_origins",
            _("Who replies"),
            _("Replies sent by the bot's rules, the AI and people."),
            Chart("doughnut", "label", ("replies",)),
            reply_origins,
            (Figure("human_share", "percent", _("by people")), Figure("ai_share", "percent", _("by the AI"))),
        ),
        Metric(
            "first_response",
            _("Agents' first response time"),
            _("From the customer's first waiting message to an agent's reply."),
            Chart("bar", "label", ("responses",)),
            first_response,
            (Figure("median_seconds", "duration", _("median")), Figure("p90_seconds", "duration", _("p90"))),
        ),
        Metric(
            "resolution",
            _("Resolution time"),
            _("From the customer's first message to the chat being closed."),
            Chart("bar", "label", ("closings",)),
            resolution,
            (Figure("median_seconds", "duration", _("median")), Figure("p90_seconds", "duration", _("p90"))),
        ),
        Metric(
            "ai_answers",
            _("The AI's answers"),
            _("The catalog AI's answers per day, those that fell back and those from the cache."),
            Chart("line", "day", ("answers", "fallbacks", "cached")),
            ai_answers,
            (
                Figure("fallback_rate", "percent", _("fell back")),
                Figure("cache_hit_rate", "percent", _("from the cache")),
            ),
        ),
        Metric(
            "transcriptions",
            _("Voice note transcriptions"),
            _("Customers' voice notes: transcribed, or why not."),
            Chart("hbar", "label", ("voice_notes",)),
            transcriptions,
            (Figure("voice_notes", "number", _("voice notes")), Figure("failure_rate", "percent", _("failed"))),
        ),
        Metric(
            "delivery_failures",
            _("Delivery failures"),
            _("Replies the provider did not deliver, by its error."),
            Chart("hbar", ("error_code", "reason"), ("messages",)),
            delivery_failures,
            (Figure("failed", "number", _("failed")), Figure("failure_rate", "percent", _("of replies"))),
        ),
        Metric(
            "unmatched_by_step",
            _("Unmatched messages by step"),
            _("Customer messages no rule understood, by the flow's step: where the flow loses people."),
            Chart("hbar", "step", ("messages",)),
            unmatched_by_step,
            (
                Figure("unmatched", "number", _("unmatched")),
                Figure("unmatched_rate", "percent", _("of customer messages")),
            ),
        ),
    )
}


def metric_compute(*, name: str, scope: Scope) -> MetricResult:
    """The metric ``name`` (a key of METRICS) over ``scope``, read through the summaries."""
    with summary_snapshot():
        return METRICS[name].compute(scope.with_summaries())
