"""The dashboard's metrics: each one a function of a ``Scope`` that the database aggregates.

Every metric returns a ``MetricResult`` (columns, rows, a summary of key figures, and how the page
draws it), the same for the JSON endpoint, the CSV file and the chart. Counts, buckets by day and
hour (in the business's time zone: Trunc/Extract with its tzinfo), medians and percentiles are
computed by the database over the range's rows, read through the messages' created_at indexes;
nothing loops over the messages in Python except the word count, which reads a bounded stream
(the most recent ``WORDS_SCAN_LIMIT`` customer texts of the range, said on its chart).

Definitions (the tests compute each one by hand on fixed data):

- Replies: outbound messages. *Human*: sent by an agent in the console, or typed outside the
  product (a Chatwoot agent, the Instagram app: ``data.echo``). *AI*: the catalog AI's answers
  (``data.ai_log``). *Bot*: every other reply (rules, global commands, the flow's fallback);
  system notices are not replies.
- First response: an agent's reply that is the first human reply after a customer message; its
  time runs from the first message of that customer's turn (the customer messages since the last
  reply of anyone before their latest message) to the agent's reply.
- Resolution: from the first customer message after the previous closing to the chat's closing
  (recorded when it happens: analytics.models.ConversationClosing).
- Median and p90 by nearest rank: the value at position ceil(p·n) of the sorted times.
- Unmatched: customer messages no rule of their step matched (the flow's fallback), by that step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay, NullIf, TruncDate
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from analytics.models import ConversationClosing
from analytics.services.filters import Scope
from analytics.services.words import top_words
from conversations.models import ConversationStatus, Direction, Message, MessageKind
from conversations.models.messages import EnrichmentState
from conversations.services.enrichment_types import REASONS

__all__ = ["METRICS", "WORDS_SCAN_LIMIT", "Metric", "MetricResult", "metric_compute"]

WORDS_SCAN_LIMIT = 5000  # customer texts read for the word count: the most recent of the range
WORDS_SHOWN = 30
TOP_NUMBERS = 10
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # before any message


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


def messages_per_day(scope: Scope) -> MetricResult:
    """Messages per day of the range (business days), customers' and replies apart; every day listed."""
    f = scope.filters
    counts = (
        scope.messages()
        .annotate(day=TruncDate("created_at", tzinfo=f.zone))
        .values("day", "direction")
        .annotate(n=Count("id"))
        .values_list("day", "direction", "n")
    )
    by_day: dict[Any, dict[str, int]] = {}
    for day, direction, n in counts:
        by_day.setdefault(day, {})[direction] = n
    rows = [[d.isoformat(), by_day.get(d, {}).get("in", 0), by_day.get(d, {}).get("out", 0)] for d in f.days]
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
    counts = (
        scope.messages()
        .annotate(weekday=ExtractIsoWeekDay("created_at", tzinfo=zone), hour=ExtractHour("created_at", tzinfo=zone))
        .values("weekday", "hour")
        .annotate(n=Count("id"))
        .values_list("weekday", "hour", "n")
    )
    found = {(weekday, hour): n for weekday, hour, n in counts}
    rows = [[weekday, hour, found.get((weekday, hour), 0)] for weekday in range(1, 8) for hour in range(24)]
    busiest = max(rows, key=lambda r: (r[2], -r[0], -r[1]))
    summary = {"busiest_weekday": busiest[0], "busiest_hour": busiest[1]} if busiest[2] else {}
    return MetricResult(("weekday", "hour", "messages"), rows, summary)


def directions(scope: Scope) -> MetricResult:
    """Messages received from customers (in) and sent to them (out)."""
    counts = dict(scope.messages().values("direction").annotate(n=Count("id")).values_list("direction", "n"))
    rows = _labelled(Direction.choices, counts, keep_empty=True)
    total = sum(counts.values())
    return MetricResult(
        ("direction", "label", "messages"),
        rows,
        {"messages": total, "inbound_share": _rate(counts.get("in", 0), total)},
    )


def message_types(scope: Scope) -> MetricResult:
    """Messages by type (text, interactive reply, image, audio...), most frequent first."""
    counts = dict(scope.messages().values("kind").annotate(n=Count("id")).values_list("kind", "n"))
    rows = sorted(_labelled(MessageKind.choices, counts), key=lambda r: (-r[2], r[0]))
    return MetricResult(("kind", "label", "messages"), rows, {"types": len(rows)})


def top_numbers(scope: Scope) -> MetricResult:
    """The contacts with the most messages in the range (both directions)."""
    number = Coalesce(NullIf("conversation__contact__phone", Value("")), "conversation__contact__external_id")
    name = Coalesce(NullIf("conversation__contact__alias", Value("")), "conversation__contact__profile_name")
    counts = (
        scope.messages()
        .values("conversation__contact_id")
        .annotate(
            number=Max(number),
            name=Max(name),
            n=Count("id"),
            inbound=Count("id", filter=Q(direction="in")),
        )
        .order_by("-n", "number")[:TOP_NUMBERS]
    )
    rows = [[c["number"], c["name"] or "", c["n"], c["inbound"], c["n"] - c["inbound"]] for c in counts]
    return MetricResult(("number", "name", "messages", "inbound", "outbound"), rows, {"shown": len(rows)})


def frequent_words(scope: Scope) -> MetricResult:
    """Words of the customers' texts (a voice note's transcription counts as its text): the most recent
    WORDS_SCAN_LIMIT messages of the range with text, streamed from the database."""
    texts = (
        scope.messages()
        .filter(direction="in")
        .exclude(text="", transcription="")
        .order_by("-created_at", "-id")
        .values_list("text", "transcription")[:WORDS_SCAN_LIMIT]
    )
    scanned = 0

    def stream() -> Iterator[str]:
        nonlocal scanned
        for text, transcription in texts.iterator(chunk_size=500):
            scanned += 1
            yield text or transcription

    rows = [[word, n] for word, n in top_words(stream(), limit=WORDS_SHOWN)]
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

HUMAN_REPLY = Q(sent_by__isnull=False) | Q(data__has_key="echo")
AI_REPLY = Q(data__has_key="ai_log")
REPLY_ORIGINS = (("bot", _("Bot (rules)")), ("ai", _("AI")), ("human", _("Human agent")))


def _replies(scope: Scope) -> QuerySet[Message]:
    return scope.messages().filter(direction="out").exclude(kind=MessageKind.SYSTEM)


def reply_origins(scope: Scope) -> MetricResult:
    origin = Case(When(HUMAN_REPLY, then=Value("human")), When(AI_REPLY, then=Value("ai")), default=Value("bot"))
    counts = dict(
        _replies(scope).annotate(origin=origin).values("origin").annotate(n=Count("id")).values_list("origin", "n")
    )
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


def _durations(values: QuerySet, field_name: str, buckets: tuple, unit: str) -> MetricResult:
    """Rows [bucket, label, count] of ``values``' ``field_name`` (a duration), with count, median and p90."""
    whens = [When(**{f"{field_name}__lt": limit}, then=Value(code)) for code, _label, limit in buckets if limit]
    bucket = Case(*whens, default=Value(buckets[-1][0]))
    counts = dict(values.annotate(bucket=bucket).values("bucket").annotate(n=Count("pk")).values_list("bucket", "n"))
    total = sum(counts.values())
    rows = [[code, str(label), counts.get(code, 0)] for code, label, _limit in buckets]
    return MetricResult(
        ("bucket", "label", unit),
        rows,
        {
            unit: total,
            "median_seconds": _seconds(_nearest_rank(values, field_name, total, 0.5)),
            "p90_seconds": _seconds(_nearest_rank(values, field_name, total, 0.9)),
        },
    )


def first_response_times(scope: Scope) -> QuerySet[Message]:
    """Agents' first responses in the range, each annotated with ``wait`` (a duration). See the module doc."""
    same_chat = Message.objects.filter(conversation_id=OuterRef("conversation_id")).order_by()
    last_customer = same_chat.filter(direction="in", created_at__lt=OuterRef("created_at")).order_by(
        "-created_at", "-id"
    )
    last_human = same_chat.filter(HUMAN_REPLY, direction="out", created_at__lt=OuterRef("created_at")).order_by(
        "-created_at", "-id"
    )
    answered = (
        scope.messages()
        .filter(direction="out", sent_by__isnull=False)
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


def first_response(scope: Scope) -> MetricResult:
    """Agents' first responses in the range by how long the customer waited, with the median and p90."""
    return _durations(first_response_times(scope), "wait", RESPONSE_BUCKETS, "responses")


def resolution(scope: Scope) -> MetricResult:
    """Chats closed in the range: from the first customer message after the previous closing to the closing."""
    f = scope.filters
    closings = ConversationClosing.objects.filter(
        closed_at__gte=f.since, closed_at__lt=f.until, conversation_id__in=scope.conversations().values("pk")
    ).annotate(took=ExpressionWrapper(F("closed_at") - F("opened_at"), output_field=DurationField()))
    return _durations(closings, "took", RESOLUTION_BUCKETS, "closings")


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
    outbound = scope.messages().filter(direction="out")
    counts = (
        outbound.filter(status="failed")
        .values("error_code")
        .annotate(reason=Max("error_message"), n=Count("id"))
        .order_by("-n", "error_code")
    )
    rows = [[c["error_code"], (c["reason"] or "")[:200], c["n"]] for c in counts]
    failed = sum(r[2] for r in rows)
    sent = outbound.count()
    return MetricResult(
        ("error_code", "reason", "messages"),
        rows,
        {"failed": failed, "outbound": sent, "failure_rate": _rate(failed, sent)},
    )


def unmatched_by_step(scope: Scope) -> MetricResult:
    """Customer messages that no rule of their step matched, by that step: where the flow loses people."""
    inbound = scope.messages().filter(direction="in")
    counts = (
        inbound.filter(data__unmatched=True)
        .annotate(step=Coalesce(KT("data__step"), Value(""), output_field=CharField()))
        .values("step")
        .annotate(n=Count("id"))
        .values_list("step", "n")
    )
    rows = sorted(([step or str(_("(not recorded)")), n] for step, n in counts), key=lambda r: (-r[1], r[0]))
    unmatched = sum(r[1] for r in rows)
    total = inbound.count()
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
    """The metric ``name`` (a key of METRICS) over ``scope``."""
    return METRICS[name].compute(scope)
