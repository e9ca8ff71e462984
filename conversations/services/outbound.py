"""Outbound: store first (queued), then deliver in order per conversation, paced, with retries.

`message_queue_outbound` validates against the provider's limits and stores the
message; `conversation_flush_outbound` (run by a task) sends a conversation's
queued messages oldest first, respecting the per-number and per-customer
limits, retrying transient errors with exponential backoff and failing
permanent ones with the provider's reason.
"""

from __future__ import annotations

import copy
import logging
import queue
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from conversations import events
from conversations.models import Conversation, Message, MessageStatus
from conversations.providers import get_provider_class
from conversations.providers.base import OutboundMessage, OutboundValidationError, ProviderError
from conversations.services import attention, ratelimit
from conversations.services.channels import provider_for
from conversations.services.outbound_media import outbound_media_prepare
from conversations.services.serialize import conversation_event_data, message_event_data
from conversations.services.sql import execute_later, model_sql, row_insert
from conversations.services.writes import conversation_defer, conversation_deferring, turn_message_store
from whatsapp_ia.locks import LOCK_BUSY_RETRY, conversation_lock
from whatsapp_ia.redis_client import redis_client

logger = logging.getLogger(__name__)

IN_FLIGHT_RETRY = 1.0  # seconds a flush waits behind an older reply another worker is sending
MAX_PACING_SLEEP = 10.0  # seconds a worker may sleep for its booked send slot
CALLBACK_PREFIX = "wia:"  # our message id as sent in each request and echoed by the provider's statuses


_OUTBOUND_FIELDS = tuple(f.name for f in fields(OutboundMessage))


def outbound_to_data(outbound: OutboundMessage) -> dict[str, Any]:
    """``dataclasses.asdict(outbound)`` without its deep copy of every value (a reply's hot path): the
    values are strings, booleans and tuples of them, except the template's components (dicts), copied."""
    data = {name: getattr(outbound, name) for name in _OUTBOUND_FIELDS}
    if outbound.template_components:
        data["template_components"] = copy.deepcopy(outbound.template_components)
    return data


def outbound_from_data(data: dict[str, Any], *, callback_data: str = "") -> OutboundMessage:
    """Rebuild the dataclass from its JSON form (lists back into tuples), tagged with `callback_data` if given."""

    def tup(value: Any) -> Any:
        if isinstance(value, list):
            return tuple(tup(v) for v in value)
        return value

    names = {f.name for f in fields(OutboundMessage)}
    kwargs = {k: tup(v) for k, v in data.items() if k in names}
    if callback_data:
        kwargs["callback_data"] = callback_data
    return OutboundMessage(**kwargs)


def callback_tag(message_id: int) -> str:
    """What each send carries back in its status webhooks (Meta's biz_opaque_callback_data): our id."""
    return f"{CALLBACK_PREFIX}{message_id}"


def callback_message_id(tag: str) -> int | None:
    """Our message id from a status's callback data; None when it is not one of our tags."""
    if not tag.startswith(CALLBACK_PREFIX):
        return None
    number = tag[len(CALLBACK_PREFIX) :]
    return int(number) if number.isascii() and number.isdigit() and len(number) < 19 else None


def window_refusal(conversation: Conversation, outbound: OutboundMessage, *, now: datetime) -> ProviderError | None:
    """The provider's refusal of `outbound` by its customer-service window (Meta: 24 h, 131047); None: it may go."""
    provider_cls = get_provider_class(conversation.channel.provider)
    return provider_cls.window_refusal(message=outbound, last_inbound_at=conversation.last_inbound_at, now=now)


def conversation_window_open(conversation: Conversation, *, now: Any = None) -> bool:
    """True while the provider's customer-service window lets free-form messages out (no window: always)."""
    free_form = OutboundMessage(kind="text", to="")
    return window_refusal(conversation, free_form, now=now or timezone.now()) is None


def message_queue_outbound(
    *,
    conversation: Conversation,
    outbound: OutboundMessage,
    rule_id: int | None = None,
    sent_by_id: int | None = None,
) -> Message:
    """Validate and store an outbound message as queued; delivery starts after commit.

    Raises OutboundValidationError (nothing stored) when a provider limit is broken.
    """
    if not outbound.to:
        outbound = replace(outbound, to=conversation.contact.external_id)
    if not outbound.thread_id and conversation.provider_thread_id:
        outbound = replace(outbound, thread_id=conversation.provider_thread_id)
    provider = provider_for(conversation.channel)
    provider.build_payload(outbound)  # raises OutboundValidationError with a clear reason
    turn_message_store(conversation)  # the message this turn answers comes first
    turn = _turn_sends(conversation)
    claimed = turn is not None and turn.may_claim()
    message = Message(
        conversation=conversation,
        direction="out",
        kind=outbound.kind,  # the OutboundMessage kinds are Message kinds too
        text=outbound.text,
        caption=outbound.caption,
        data={"outbound": outbound_to_data(outbound)},
        media_original_url=outbound.media_link[:2000],
        provider=conversation.channel.provider,
        # Claimed: this worker sends it right after the commit (nothing older of the chat is waiting).
        status=MessageStatus.SENDING if claimed else MessageStatus.QUEUED,
        attempts=1 if claimed else 0,
        processing_state="done",
        rule_id=rule_id,
        sent_by_id=sent_by_id,
    )
    row_insert(message)
    now = timezone.now()
    preview = (outbound.text or outbound.caption or f"[{message.kind}]")[:200]
    if conversation_deferring(conversation):  # in a pipeline turn: written with the turn's other changes
        conversation.last_activity_at, conversation.last_message_preview = now, preview
        conversation_defer(conversation, ("last_activity_at", "last_message_preview"))
    else:
        Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=now, last_message_preview=preview)
    groups = events.groups_for(conversation)
    events.broadcast_on_commit(groups=groups, name=events.MESSAGE_CREATED, data=message_event_data(message))
    if turn is not None:
        turn.add(message, claimed=claimed)
    else:
        flush_enqueue_on_commit(conversation_id=conversation.pk)
    return message


def _flush_flag(conversation_id: int) -> str:
    return f"wia:flush:pending:{conversation_id}"


@dataclass
class TurnSends:
    """The replies one turn queued for a conversation: the claimed ones are sent by the turn's worker."""

    conversation: Conversation
    claimed: list[Message] = field(default_factory=list)
    queued: bool = False  # some could not be claimed: a flush task sends them
    free: bool | None = None  # nothing older of the conversation waiting to be sent (asked once per turn)

    def may_claim(self) -> bool:
        if self.queued:
            return False  # behind one left queued: order holds
        if self.free is None:
            self.free = not _outbound_waiting(self.conversation.pk)
        return self.free

    def add(self, message: Message, *, claimed: bool) -> None:
        if claimed:
            self.claimed.append(message)
        else:
            self.queued = True


_sends_here: ContextVar[dict[int, TurnSends] | None] = ContextVar("outbound_sends_here", default=None)


def _turn_sends(conversation: Conversation) -> TurnSends | None:
    here = _sends_here.get()
    if here is None:
        return None
    turn = here.get(conversation.pk)
    if turn is None:
        turn = here[conversation.pk] = TurnSends(conversation)
    return turn


def turn_sends_known(conversation: Conversation, *, outbound_waiting: bool) -> None:
    """Tell the turn collecting replies (if any) what the caller already read: saves the question later."""
    turn = _turn_sends(conversation)
    if turn is not None and turn.free is None:
        turn.free = not outbound_waiting


_OUT_WAITING_SQL = (
    "SELECT 1 FROM {table} WHERE {conversation} = %s AND {direction} = 'out' AND {status} IN (%s, %s) LIMIT 1"
)


def _outbound_waiting(conversation_id: int) -> bool:
    """Is an outbound message of the conversation queued or being sent? Then a new one goes behind it."""
    params = [conversation_id, MessageStatus.QUEUED, MessageStatus.SENDING]
    with connection.cursor() as cursor:
        cursor.execute(model_sql(Message, _OUT_WAITING_SQL), params)
        return cursor.fetchone() is not None


def flush_enqueue_on_commit(*, conversation_id: int) -> None:
    """After commit, make sure one flush of the conversation is pending (not one per queued message)."""
    transaction.on_commit(lambda: flush_schedule(conversation_id=conversation_id), robust=True)


@contextmanager
def sends_here() -> Iterator[dict[int, TurnSends]]:
    """Collect the replies queued inside the block; the caller sends them itself after its commit.

    The message pipeline answers a message in the transaction that stores it. A reply with nothing
    older of its chat waiting is stored already claimed ("sending") and sent by the same worker
    right after the commit (``turn_sends_deliver``): no flush task, no lock, no second read.
    """
    collected: dict[int, TurnSends] = {}
    token = _sends_here.set(collected)
    try:
        yield collected
    finally:
        _sends_here.reset(token)


INLINE_MAX_PACING_SLEEP = 0.25  # seconds the pipeline waits for a send slot before leaving it to a flush task


def turn_sends_deliver(turn: TurnSends) -> None:
    """Send the replies a committed turn claimed, in order; what cannot go now goes back to the queue.

    A wait for pacing (the customer's or the number's) or a transient failure puts the rest back
    ("queued") for a flush task after that wait; replies the turn could not claim get a flush task.
    """
    conversation = turn.conversation
    pending = list(turn.claimed)
    if pending:
        provider = provider_for(conversation.channel)
        groups = events.groups_for(conversation)
        while pending:
            message = pending.pop(0)
            outbound = outbound_from_data(message.data.get("outbound", {}), callback_data=callback_tag(message.pk))
            if refusal := window_refusal(conversation, outbound, now=timezone.now()):
                _fail(message, groups, code=refusal.code, reason=refusal.message)
                continue
            wait, _, counted = _pace(conversation, outbound.to, max_sleep=INLINE_MAX_PACING_SLEEP, enter_window=True)
            if not wait:
                _, wait = _send_claimed(conversation, provider, groups, message, outbound, counted=counted)
            else:
                pending.insert(0, message)
            if wait:
                for later in pending:
                    _record_status(
                        later.pk, status=MessageStatus.QUEUED, attempts=later.attempts - 1, now=timezone.now()
                    )
                flush_schedule(conversation_id=conversation.pk, countdown=max(wait, 0.05))
                return
    if turn.queued:
        flush_schedule(conversation_id=conversation.pk)


def flush_schedule(*, conversation_id: int, countdown: float = 0.0, busy: int = 0) -> bool:
    """Enqueue a flush unless one is already pending; True when this call enqueued it.

    `busy` counts the runs in a row that found the conversation's lock held (they back off).
    """
    from conversations.tasks import conversation_flush_outbound_task

    ttl_ms = int((countdown + 60) * 1000)
    if not redis_client().set(_flush_flag(conversation_id), "1", nx=True, px=ttl_ms):
        return False
    args = (conversation_id, busy) if busy else (conversation_id,)
    conversation_flush_outbound_task.apply_async(args, countdown=countdown or None)
    return True


def flush_started(*, conversation_id: int) -> None:
    """The pending flush runs now: later messages must schedule their own."""
    redis_client().delete(_flush_flag(conversation_id))


@dataclass(frozen=True)
class FlushResult:
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None  # seconds until the flush must run again; None = nothing left
    busy: bool = False  # another worker holds the conversation: the caller backs off


def backoff_seconds(attempts: int, *, retry_after: float | None = None) -> float:
    base = settings.OUTBOUND_BACKOFF_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    delay = min(base, settings.OUTBOUND_BACKOFF_MAX_SECONDS) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def conversation_flush_outbound(*, conversation_id: int) -> FlushResult:
    """Send the conversation's queued messages in order. Runs in a worker; one worker per conversation.

    When another worker holds the conversation, this flush comes back (after LOCK_BUSY_RETRY,
    doubling while it stays busy: `busy=True`) instead of ending: the holder may have read its
    batch before a message this flush was scheduled for committed. So every committed message
    is seen by a flush that holds the lock, without querying again after each release.
    """
    with conversation_lock("out", conversation_id) as held:
        if not held:
            return FlushResult(retry_in=LOCK_BUSY_RETRY, busy=True)
        return _flush_locked(conversation_id)


# What a flush reads of a queued message: what it sends and what the console event shows.
# Loading all of a message's columns made the query about twice as expensive (ORM compile and rows).
_FLUSH_FIELDS = (
    "id",
    "conversation_id",
    "direction",
    "kind",
    "text",
    "caption",
    "data",
    "media_file",
    "media_mime",
    "transcription",
    "status",
    "error_code",
    "error_message",
    "attempts",
    "next_attempt_at",
    "created_at",
)
FLUSH_BATCH = 10  # messages read at a time: a flush usually sends a few before pacing makes it wait


def _queued(conversation_id: int) -> list[Message]:
    """The conversation's next FLUSH_BATCH queued outbound messages, oldest first."""
    sql, params = _queued_sql(connection.vendor)
    return list(Message.objects.raw(sql, [conversation_id if p == _ANY_ID else p for p in params]))


_ANY_ID = -7_301_955  # stands for the conversation id while the query is compiled


@lru_cache(maxsize=8)
def _queued_sql(vendor: str) -> tuple[str, tuple[Any, ...]]:
    """The SQL of `_queued`, compiled by the ORM once (run as a raw query: about half the CPU per call)."""
    queryset = (
        Message.objects.filter(
            conversation_id=_ANY_ID, direction="out", status__in=(MessageStatus.QUEUED, MessageStatus.SENDING)
        )
        .order_by("created_at", "id")
        .only(*_FLUSH_FIELDS)[:FLUSH_BATCH]
    )
    return queryset.query.sql_with_params()


def _flush_locked(conversation_id: int) -> FlushResult:
    sent = failed = 0
    batch = _queued(conversation_id)
    if not batch:
        return FlushResult()
    conversation = Conversation.objects.select_related("channel").get(pk=conversation_id)
    provider = provider_for(conversation.channel)
    groups = events.groups_for(conversation)
    recipient_busy_until: dict[str, float] = {}  # time.monotonic() until the recipient's pair bucket is empty
    while batch:
        for message in batch:
            now = timezone.now()
            if message.status == MessageStatus.SENDING:
                # An older reply is in another worker's hands (a turn sending its claimed replies, or one
                # that died mid-send, which the sweeper puts back): this one goes after it.
                return FlushResult(sent, failed, IN_FLIGHT_RETRY)
            if message.next_attempt_at and message.next_attempt_at > now:
                return FlushResult(sent, failed, (message.next_attempt_at - now).total_seconds())
            outbound = outbound_from_data(message.data.get("outbound", {}), callback_data=callback_tag(message.pk))
            if refusal := window_refusal(conversation, outbound, now=now):
                _fail(message, groups, code=refusal.code, reason=refusal.message)
                failed += 1
                continue
            if (wait := recipient_busy_until.get(outbound.to, 0.0) - time.monotonic()) > 0:
                return FlushResult(sent, failed, wait)  # known from the last send: no need to ask Redis
            wait, recipient_free_in, _ = _pace(conversation, outbound.to)
            if wait:
                return FlushResult(sent, failed, wait)
            if recipient_free_in:
                recipient_busy_until[outbound.to] = time.monotonic() + recipient_free_in
            message.attempts += 1
            if not _record_status(
                message.pk, status=MessageStatus.SENDING, attempts=message.attempts, now=timezone.now()
            ):
                continue  # no longer queued: another worker took it, or a status webhook showed it went out
            outcome, wait = _send_claimed(conversation, provider, groups, message, outbound)
            if wait:
                return FlushResult(sent, failed, wait)
            if outcome == "sent":
                sent += 1
            else:
                failed += 1
        if len(batch) < FLUSH_BATCH:
            break  # that was all of it; anything queued meanwhile is seen after the lock is released
        batch = _queued(conversation_id)
    return FlushResult(sent, failed, None)


def _send_claimed(
    conversation: Conversation,
    provider: Any,
    groups: list[str],
    message: Message,
    outbound: OutboundMessage,
    *,
    counted: ratelimit.WindowEntry | None = None,
) -> tuple[str, float]:
    """Send a message this worker holds as "sending": ("sent" | "failed", 0.0), or ("queued", seconds to wait).

    "queued": put back in the queue, after the provider's window stayed full or a transient failure
    (its next attempt noted on it); the caller comes back after that many seconds. ``counted``: the
    send is in the provider's window already (`_pace` entered it in its round trip).
    """
    wait = 0.0
    if counted is None:
        wait, counted = _window(conversation)
    if wait:  # only when other workers kept the window full for long
        message.attempts -= 1
        _record_status(message.pk, status=MessageStatus.QUEUED, attempts=message.attempts, now=timezone.now())
        return "queued", wait
    try:
        outbound = outbound_media_prepare(channel=conversation.channel, provider=provider, outbound=outbound)
        response = provider.send(outbound)
    except OutboundValidationError as exc:
        _fail(message, groups, code="validation", reason=str(exc))
        return "failed", 0.0
    except ProviderError as exc:
        if exc.transient and message.attempts < settings.OUTBOUND_MAX_ATTEMPTS:
            delay = backoff_seconds(message.attempts, retry_after=exc.retry_after)
            message.status = MessageStatus.QUEUED
            message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            message.error_code, message.error_message = exc.code[:50], f"Retrying: {exc.message}"[:2000]
            message.save(update_fields=["status", "next_attempt_at", "error_code", "error_message", "updated_at"])
            logger.info("Send of message %s failed (%s); retry in %.1f s", message.pk, exc, delay)
            return "queued", delay
        _fail(message, groups, code=exc.code or "error", reason=exc.message)
        return "failed", 0.0
    finally:
        ratelimit.window_answered(counted)
    _mark_sent(message, groups, provider_message_id=response.provider_message_id)
    return "sent", 0.0


def _pace(
    conversation: Conversation, recipient: str, *, max_sleep: float = MAX_PACING_SLEEP, enter_window: bool = False
) -> tuple[float, float, ratelimit.WindowEntry | None]:
    """(seconds to wait before this send may go out, seconds until the recipient may get another one,
    the send's entry in the provider's window when ``enter_window`` and it was counted already).

    0 for the first = go now, after sleeping for its booked slot. The per-customer bucket is only
    taken when free (a wait there reschedules the flush); the per-number rate books a slot, shared
    by all workers, and short waits are slept here. ``enter_window``: the caller sends right after
    (nothing in between): a slot that is now is followed by the window's check in the same round trip.
    """
    limits = get_provider_class(conversation.channel.provider).rate_limits()
    pair_interval = limits.pair_interval
    pacing = ratelimit.take_then_reserve(
        bucket_key=ratelimit.pair_key(conversation.channel_id, recipient),
        bucket_rate=1.0 / pair_interval if pair_interval > 0 else 0.0,
        bucket_burst=limits.pair_burst,
        slot_key=ratelimit.number_key(conversation.channel_id),
        slot_rate=limits.number_rate,
        slot_burst=limits.number_burst,
        enter=_window_spec(conversation) if enter_window else None,
    )
    if pacing.bucket_wait:
        return pacing.bucket_wait, pacing.bucket_wait, None
    wait = pacing.slot_wait
    if wait > max_sleep:
        return wait, pacing.bucket_next, None  # a deep backlog: come back later (that slot goes unused)
    if wait:
        time.sleep(wait)
    return 0.0, pacing.bucket_next, pacing.entry


def _window_spec(conversation: Conversation) -> ratelimit.WindowSpec:
    """The provider's window for this chat's number: one under the provider's limit (0: off)."""
    provider_limit = get_provider_class(conversation.channel.provider).rate_limits().number_limit
    return ratelimit.WindowSpec(
        key=ratelimit.window_key(conversation.channel_id),
        limit=max(1, provider_limit - 1) if provider_limit > 0 else 0,
        hold=settings.PROVIDER_HTTP_TIMEOUT * 2 + 1,  # longer than a request may stay in flight (connect + read)
    )


def _window(conversation: Conversation) -> tuple[float, ratelimit.WindowEntry | None]:
    """The last check, right before the request: (0.0, the send's entry) once counted, else (seconds, None).

    Booked slots are evenly spaced, but a thread can wake late and bunch up with the next one,
    and a request can spend tens of milliseconds between this check and the provider (a busy
    core, the GIL). The provider counts arrivals per second, so this window counts each send
    from its start until a second after its answer (`ratelimit.window_enter`): then no second of
    the provider's sees more than the window's limit, whatever those delays. The limit is one
    under the provider's (`RateLimits.number_limit`; Meta: OUTBOUND_NUMBER_LIMIT_PER_SECOND). The caller
    records the answer with `ratelimit.window_answered`.
    """
    spec = _window_spec(conversation)
    deadline = time.monotonic() + MAX_PACING_SLEEP
    while True:
        wait, counted = ratelimit.window_enter(key=spec.key, limit=spec.limit, hold=spec.hold)
        if not wait:
            return 0.0, counted
        if time.monotonic() + wait > deadline:
            return wait, None
        time.sleep(wait)


# Set by the pipeline runner for its sender threads: they hand the "sent" writes to the runner's
# thread instead of writing them. With SQLite one writer at a time holds the file; threads of one
# process queuing on its lock sleep in SQLite's busy handler (1, 2, 5, 10 ms...) and the runner's own
# turns wait behind them (measured at 60 messages/s: 37% of the runner's samples waiting there). The
# runner writes them inside its next turn's transaction (``sent_records_with_turn``): no commit, no
# event-log round trip and no wake-up of its own for each reply. When no turn comes soon, it writes
# them on their own (``sent_records_apply``, after the runner's SENT_WRITE_DELAY at most).
SentRecord = tuple[Message, list[str], str, datetime]
_sent_later: queue.SimpleQueue[SentRecord] | None = None


def sent_records_defer() -> None:
    """From now on this process's sends queue their "sent" writes for the runner's thread."""
    global _sent_later
    _sent_later = queue.SimpleQueue()


def sent_records_pending() -> bool:
    """Are "sent" writes queued (the runner's thread then waits for a turn at most a short while)?"""
    pending = _sent_later
    return pending is not None and not pending.empty()


def _sent_records_take() -> list[SentRecord]:
    pending = _sent_later
    records: list[SentRecord] = []
    while pending is not None and not pending.empty():
        records.append(pending.get_nowait())
    return records


def sent_records_apply(*, stop_deferring: bool = False) -> int:
    """Write the queued "sent" records on their own, in one transaction (the runner's thread); how many."""
    global _sent_later
    records = _sent_records_take()
    if stop_deferring:
        _sent_later = None
    if not records:
        return 0
    if len(records) == 1:  # one UPDATE commits by itself: no transaction's set-up around it
        message, groups, provider_message_id, at = records[0]
        _mark_sent_now(message, groups, provider_message_id=provider_message_id, now=at)
        return 1
    with transaction.atomic():
        for message, groups, provider_message_id, at in records:
            _mark_sent_now(message, groups, provider_message_id=provider_message_id, now=at)
    return len(records)


@contextmanager
def sent_records_with_turn() -> Iterator[Callable[[], None]]:
    """Take the queued "sent" records to write inside a turn's transaction: call what this yields in it.

    They count as written once that transaction commits; if it rolls back (or the writer is never
    called), they go back in the queue for the next turn or ``sent_records_apply``. Their console
    events leave with the turn's own, after the commit.
    """
    records = _sent_records_take()
    committed: list[bool] = []

    def write() -> None:
        if not records:
            return
        for message, groups, provider_message_id, at in records:
            _mark_sent_now(message, groups, provider_message_id=provider_message_id, now=at)
        transaction.on_commit(lambda: committed.append(True))

    try:
        yield write
    finally:
        pending = _sent_later
        if records and not committed:
            if pending is not None:
                for record in records:
                    pending.put(record)
            else:  # the runner stopped deferring meanwhile: write them now
                for message, groups, provider_message_id, at in records:
                    _mark_sent_now(message, groups, provider_message_id=provider_message_id, now=at)


def _mark_sent(message: Message, groups: list[str], *, provider_message_id: str) -> None:
    """Store the provider id; "sent" unless a status webhook already moved the ticks further."""
    later = _sent_later
    if later is not None:
        later.put((message, groups, provider_message_id, timezone.now()))
        return
    _mark_sent_now(message, groups, provider_message_id=provider_message_id, now=timezone.now())


def _mark_sent_now(message: Message, groups: list[str], *, provider_message_id: str, now: datetime) -> None:
    _record_sent(message.pk, provider_message_id=provider_message_id, now=now)
    message.provider_message_id, message.status, message.sent_at = provider_message_id, MessageStatus.SENT, now
    message.error_code = message.error_message = ""
    events.broadcast_on_commit(groups=groups, name=events.MESSAGE_UPDATED, data=message_event_data(message))


# The writes of every send, as plain SQL built once: QuerySet.update() compiles its query on
# each call. Measured (CPU per write, benchmark machine): 0.20 ms for the "sending" update and
# 0.67 ms for the conditional "sent" one through the ORM, 0.07-0.10 ms each as prepared here.
# Guarded by the status it leaves (queued -> sending -> queued): two workers can never both send one message.
_STATUS_SQL = "UPDATE {table} SET {attempts} = %s, {status} = %s, {updated_at} = %s WHERE {id} = %s AND {status} = %s"
_SENT_SQL = (
    "UPDATE {table} SET {provider_message_id} = %s,"
    " {status} = CASE WHEN {status} IN (%s, %s) THEN %s ELSE {status} END,"
    " {sent_at} = COALESCE({sent_at}, %s), {error_code} = '', {error_message} = '', {next_attempt_at} = NULL,"
    " {updated_at} = %s WHERE {id} = %s"
)


def _db_datetime(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _record_status(message_id: int, *, status: str, attempts: int, now: datetime) -> bool:
    """Mark a queued message "sending" before the call (if the worker dies mid-send, the sweeper re-queues
    it) or a sending one "queued" again. False when it was not in the expected state (nothing written)."""
    expected = MessageStatus.QUEUED if status == MessageStatus.SENDING else MessageStatus.SENDING
    with connection.cursor() as cursor:
        cursor.execute(model_sql(Message, _STATUS_SQL), [attempts, status, _db_datetime(now), message_id, expected])
        return cursor.rowcount == 1


def _record_sent(message_id: int, *, provider_message_id: str, now: datetime) -> None:
    at = _db_datetime(now)
    params = [provider_message_id, MessageStatus.SENDING, MessageStatus.QUEUED, MessageStatus.SENT, at, at, message_id]
    execute_later(model_sql(Message, _SENT_SQL), params)  # in a turn: with its next statement


def _fail(message: Message, groups: list[str], *, code: str, reason: str) -> None:
    message.status = MessageStatus.FAILED
    message.error_code = code[:50]
    message.error_message = reason[:2000]
    message.next_attempt_at = None
    message.save(update_fields=["status", "error_code", "error_message", "next_attempt_at", "updated_at"])
    logger.warning("Message %s failed: [%s] %s", message.pk, code, reason)
    events.broadcast_on_commit(groups=groups, name=events.MESSAGE_UPDATED, data=message_event_data(message))
    # A reply given up is an agent's job now: flag the chat, saying why in words people read.
    attention.conversation_flag_attention(
        conversation_id=message.conversation_id,
        reason=attention.send_failure_reason(code=message.error_code, attempts=message.attempts),
    )


def message_mark_read(*, message: Message) -> None:
    """Blue ticks for the customer's message (used when an agent opens the chat)."""
    if message.direction != "in" or not message.provider_message_id:
        return
    provider_for(message.conversation.channel).mark_read(message.provider_message_id)


def conversation_touch_event(conversation: Conversation) -> None:
    events.broadcast_on_commit(
        groups=events.groups_for(conversation),
        name=events.CONVERSATION_UPDATED,
        data=conversation_event_data(conversation),
    )
