"""Inbound: keep every raw delivery, then turn it into idempotently stored messages and status ticks.

The webhook path only runs `deliveries_record` (one INSERT for a batch of POSTs) and
kicks the drain tasks after commit; everything else happens in a task.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from conversations import events
from conversations.models import (
    Contact,
    Conversation,
    DeliveryState,
    MediaState,
    Message,
    MessageKind,
    MessageStatus,
    ProcessingState,
    WebhookDelivery,
)
from conversations.models.messages import MEDIA_KINDS, STATUS_RANK
from conversations.providers import get_provider_class, provider_platform
from conversations.providers.base import InboundMessage, OutboundEcho, ProviderNotice, StatusUpdate, ThreadStatus
from conversations.services import attention
from conversations.services.activity import messages_flowing_mark
from conversations.services.channels import channel_for_inbound
from conversations.services.echoes import WAIT as ECHO_WAIT
from conversations.services.echoes import echo_apply, thread_status_apply
from conversations.services.errors import db_connection_recover, error_reason, is_transient_error, retry_delay
from conversations.services.outbound import (
    TurnSends,
    flush_schedule,
    sends_here,
    sent_records_with_turn,
    turn_sends_deliver,
    turn_sends_known,
)
from conversations.services.processing import (
    InlineTurnFailed,
    message_answerable_inline,
    message_turn_failed,
    message_turn_inline,
)
from conversations.services.serialize import conversation_event_data, message_event_data
from conversations.services.sql import model_columns, model_from_row, model_sql, row_insert, row_update
from conversations.services.state import conversation_reopen
from conversations.services.writes import (
    conversation_defer,
    conversation_turn_end,
    turn_message_defer,
    turn_message_store,
)
from conversations.visibility import groups_remember
from whatsapp_ia.locks import conversation_lock
from whatsapp_ia.redis_client import redis_client

logger = logging.getLogger(__name__)

# Only the headers worth keeping for audits and signature re-checks.
KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "YCloud-Signature",
    "X-Chatwoot-Signature",
    "X-Chatwoot-Timestamp",
    "X-Chatwoot-Delivery",
    "X-Forwarded-For",
)
STATUS_RETRY_DELAYS = (5, 30, 120)  # a status can arrive before our send call has stored the id


@dataclass(frozen=True)
class RawDelivery:
    """One webhook POST as received, before it is stored."""

    provider: str
    body: bytes
    headers: Mapping[str, str]
    signature_ok: bool | None  # None: not checked (development only)
    client: str = ""  # the address the server reports for the sender


def _delivery_row(raw: RawDelivery) -> WebhookDelivery:
    kept = {name: raw.headers[name] for name in KEPT_HEADERS if name in raw.headers}
    rejected = raw.signature_ok is False
    return WebhookDelivery(
        provider=raw.provider,
        body=raw.body,
        body_size=len(raw.body),
        client_address=raw.client[:64],
        headers=kept,
        signature_ok=raw.signature_ok,
        state=DeliveryState.REJECTED if rejected else DeliveryState.RECEIVED,
        error="Missing or invalid signature" if rejected else "",
    )


def delivery_record_rejected(
    *,
    provider: str,
    head: bytes,
    size: int,
    headers: Any,
    client: str,
    error: str,
    signature_ok: bool | None = None,
) -> WebhookDelivery:
    """Keep a refused POST's metadata and the first WEBHOOK_REJECTED_KEEP_BYTES of its body, with the reason.

    One plain INSERT of a small row, outside the webhook writer's batches: a flood of
    rejected POSTs neither fills the database nor delays the real deliveries.
    """
    kept = head[: settings.WEBHOOK_REJECTED_KEEP_BYTES]
    delivery = _delivery_row(RawDelivery(provider, kept, headers, signature_ok, client))
    delivery.body_size = size
    delivery.state = DeliveryState.REJECTED
    note = f"{size} bytes from {client or 'an unknown address'}"
    if len(kept) < size:
        note += f", the first {len(kept)} kept"
    delivery.error = f"{error} ({note})"[:2000]
    delivery.save(force_insert=True)
    return delivery


def delivery_record(*, provider: str, body: bytes, headers: Any, signature_ok: bool | None) -> WebhookDelivery:
    """Store a raw delivery exactly as received (before anything can fail on it)."""
    delivery = _delivery_row(RawDelivery(provider, body, headers, signature_ok))
    delivery.save(force_insert=True)
    return delivery


def deliveries_record(raws: Sequence[RawDelivery]) -> list[WebhookDelivery]:
    """Store several raw deliveries in one INSERT and, after commit, kick the drains of their lanes.

    One multi-row INSERT is one statement: every row is durable when it returns, or
    none is. This is the webhook path's group commit (conversations/asgi.py):
    the requests that arrive while one batch is written go out together in the next.
    """
    if not raws:
        return []
    if len(raws) == 1:  # a plain INSERT: bulk_create would add a transaction's round trips around it
        created = [_delivery_row(raws[0])]
        row_insert(created[0])
    else:
        created = WebhookDelivery.objects.bulk_create([_delivery_row(raw) for raw in raws])
    accepted = [d for d in created if d.state == DeliveryState.RECEIVED]
    if accepted:
        # Databases that cannot return ids from a multi-row INSERT (MySQL) leave pk None: kick every lane.
        if all(d.pk is not None for d in accepted):
            lanes = sorted({delivery_lane(d.pk) for d in accepted})
        else:
            lanes = list(range(settings.DELIVERY_LANES))
        transaction.on_commit(lambda: deliveries_kick(lanes=lanes), robust=True)
    return created


def delivery_lane(delivery_id: int) -> int:
    return delivery_id % settings.DELIVERY_LANES


KICK_FLAG_TTL = 60  # seconds a lane's kick flag lives if no drain clears it


def kick_key(lane: int) -> str:
    """The lane's kick flag: set by the first kick of a burst while no runner is alive (see below)."""
    return f"wia:deliveries:kick:{lane}"


def deliveries_kick(*, lanes: Sequence[int]) -> None:
    """Make sure the new deliveries of these lanes get drained: one Redis round trip for all of them.

    When the pipeline runner is alive (``conversations.services.runner``), ringing its doorbell is
    all it takes: it drains every lane as soon as it wakes. Without it, a Celery drain task per
    lane: only the first kick of a burst enqueues one (a Celery publish costs about ten times a
    SET NX); later ones find the lane's flag already set. The drain clears the flag before each
    read, so nothing committed meanwhile is missed. While a runner is alive no flag is set (the ring
    and the check are one script), so the runner never clears or checks flags per pass.
    """
    from conversations.services.runner import doorbell_ring
    from conversations.tasks import deliveries_drain_task

    firsts = doorbell_ring(flag_keys=[kick_key(lane) for lane in lanes], flag_ttl=KICK_FLAG_TTL)
    if firsts is None:
        return  # a runner is alive: the ring wakes it
    for lane, first in zip(lanes, firsts, strict=True):
        if first:
            deliveries_drain_task.delay(lane)


def deliveries_drain(*, lane: int, batch: int = 200) -> bool:
    """Process the lane's received deliveries oldest first; True when the task must run again.

    One worker drains a lane at a time (a Redis lock); the kick flag is cleared
    before each read, so a delivery committed meanwhile either shows up in the
    next read or leaves the flag set, which sends this task round again.
    """
    with conversation_lock("drain", lane) as held:
        if not held:
            return False  # the holder keeps reading until its lane is empty
        return deliveries_drain_locked(lanes=[lane], batch=batch)


# What the drain reads of each delivery (the rest, such as the headers, only matters to audits), and
# how: plain SQL built once, since it runs on every wake of the runner (the ORM's compile of the read
# and the UPDATE cost about 0.5 ms of CPU a pass; at 80 messages/s a pass is often one message).
_DRAIN_FIELDS = ("id", "provider", "body", "state", "attempts", "error", "events_count", "next_attempt_at")
_DRAIN_READ_SQL = "SELECT {columns} FROM {table} WHERE {state} = %s AND {id} > %s{lanes} ORDER BY {id} LIMIT %s"
_DRAIN_COUNT_SQL = "UPDATE {table} SET {attempts} = {attempts} + 1 WHERE {id} IN (@ids@)"  # @ids@: placeholders


def _drain_read(*, lanes: Sequence[int], after: int, batch: int, count: bool = True) -> list[WebhookDelivery]:
    """The lanes' next received deliveries after ``after``, oldest first, each counted as one more attempt
    (``count=False``: the pipeline runner counts them when it takes the lanes, see ``deliveries_count_in_hand``)."""
    params: list[Any] = [DeliveryState.RECEIVED, after]
    lane_filter = ""
    if len(lanes) < settings.DELIVERY_LANES:
        lane_filter = f" AND ({{id}} %% {int(settings.DELIVERY_LANES)}) IN ({', '.join(['%s'] * len(lanes))})"
        params += list(lanes)
    template = _DRAIN_READ_SQL.replace("{lanes}", lane_filter).replace(
        "{columns}", model_columns(WebhookDelivery, _DRAIN_FIELDS)
    )
    with connection.cursor() as cursor:
        cursor.execute(model_sql(WebhookDelivery, template), [*params, batch])
        rows = cursor.fetchall()
    deliveries = [model_from_row(WebhookDelivery, row, fields=_DRAIN_FIELDS)[0] for row in rows]
    if deliveries and count:
        # Counted before the work (one UPDATE per batch): a delivery that keeps killing its
        # worker is given up after PIPELINE_MAX_ATTEMPTS instead of stalling the lane forever.
        ids = [d.pk for d in deliveries]
        sql = model_sql(WebhookDelivery, _DRAIN_COUNT_SQL).replace("@ids@", ", ".join(["%s"] * len(ids)))
        with connection.cursor() as cursor:
            cursor.execute(sql, ids)
        for delivery in deliveries:
            delivery.attempts += 1
    return deliveries


def deliveries_count_in_hand(*, lanes: Sequence[int]) -> int | None:
    """A pipeline runner that takes lanes counts one attempt on their oldest delivery still received; its id.

    The runner drains its lanes oldest first and finishes each delivery (processed, failed or left
    for a retry) before it reads on, so if the lanes' last holder died in the middle of one, that is
    the one. A delivery that kills every runner that takes it is thus given up after
    PIPELINE_MAX_ATTEMPTS, as a drain task counts each delivery it reads, without an UPDATE for
    every delivery the runner reads (a round trip and a commit per message). If the holder died idle,
    the next delivery starts with one attempt counted: harmless unless it happens that many times.
    """
    if not lanes:
        return None
    oldest = (
        WebhookDelivery.objects.filter(state=DeliveryState.RECEIVED)
        .annotate(lane=F("id") % settings.DELIVERY_LANES)
        .filter(lane__in=list(lanes))
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if oldest is not None:
        WebhookDelivery.objects.filter(pk=oldest, state=DeliveryState.RECEIVED).update(attempts=F("attempts") + 1)
    return oldest


def deliveries_drain_locked(*, lanes: Sequence[int], batch: int = 200, flags: bool = True, count: bool = True) -> bool:
    """The drain of lanes whose locks the caller holds (a drain task, or the pipeline runner for its life).

    Each delivery is isolated (`delivery_attempt`): whatever one raises is recorded
    on it and the lane goes on; a cursor makes sure no delivery is read twice per run.
    The replies each delivery's messages got are sent right after its commit (``replies_send``).
    True when deliveries were committed meanwhile (or the time budget ran out): drain again.

    ``flags=False`` is the runner's drain: it wakes on the doorbell, which every commit rings
    after it (no kick flag is set while it lives), so it neither clears nor checks the flags:
    True only when a full batch or the time budget says there is more. ``count=False``: the runner
    counted the attempts when it took the lanes (``deliveries_count_in_hand``).
    """
    client = redis_client() if flags else None
    kick_keys = [kick_key(lane) for lane in lanes]
    after = 0
    deadline = time.monotonic() + work_budget_seconds()
    while True:
        if client is not None:
            client.delete(*kick_keys)
        deliveries = _drain_read(lanes=lanes, after=after, batch=batch, count=count)
        if not deliveries:
            break
        messages_flowing_mark()  # recognition paces itself while messages flow (services/activity.py)
        for delivery in deliveries:
            with sends_here() as replied:  # the replies queued while storing and answering: sent below
                delivery_attempt(delivery_id=delivery.pk, delivery=delivery)
            replies_send(replied)
            after = delivery.pk
            if time.monotonic() > deadline:
                return True  # leave room under the task's time limit; the next run goes on
        if len(deliveries) < batch and (client is None or not client.exists(*kick_keys)):
            # The read saw everything committed before it, and nothing was kicked since the flags
            # were cleared (a kick follows its commit): no second, empty read.
            return False
    return client is not None and bool(client.exists(*kick_keys))


def replies_send(turns: dict[int, TurnSends]) -> None:
    """Send the replies just committed by these turns (never raises).

    In the pipeline runner they go to its sender threads (``runner.send_pool``): each turn's
    replies in order by one thread, while the runner stores and answers the next messages. A
    provider's round trip (a few hundred milliseconds for Meta) then costs no throughput. Elsewhere
    (a drain or process task) they are sent here, one turn after the other.
    """
    from conversations.services.runner import send_pool

    pool = send_pool()
    for _, turn in sorted(turns.items()):
        if pool is not None:
            pool.submit(turn_send_safely, turn)
        else:
            turn_send_safely(turn)


def turn_send_safely(turn: TurnSends) -> None:
    """Send one turn's replies; whatever cannot go now is left to a flush task (``turn_sends_deliver``).

    If even that fails (Redis down), the flush task or the sweeper finds them: a claimed reply left
    "sending" is put back by the sweeper once its status webhook could have shown it went out.
    """
    conversation_id = turn.conversation.pk
    try:
        turn_sends_deliver(turn)
    except Exception:
        logger.exception("Sending the replies of conversation %s failed; a flush task will", conversation_id)
        db_connection_recover()
        try:
            flush_schedule(conversation_id=conversation_id, countdown=1.0)
        except Exception:
            logger.exception("Could not schedule a flush of conversation %s; the sweeper will", conversation_id)


def work_budget_seconds() -> float:
    """How long one task may keep looping before it hands over to a fresh run (half its soft limit)."""
    return max(settings.CELERY_TASK_SOFT_TIME_LIMIT / 2, 1.0)


def delivery_retry(*, delivery_id: int, attempt: int = 0, now: datetime | None = None) -> WebhookDelivery | None:
    """A delivery's next attempt (the retry task, the sweeper): counted, then run isolated."""
    WebhookDelivery.objects.filter(pk=delivery_id, state__in=(DeliveryState.RECEIVED, DeliveryState.RETRYING)).update(
        attempts=F("attempts") + 1
    )
    return delivery_attempt(delivery_id=delivery_id, attempt=attempt, now=now)


def delivery_attempt(
    *, delivery_id: int, attempt: int = 0, now: datetime | None = None, delivery: WebhookDelivery | None = None
) -> WebhookDelivery | None:
    """Process one delivery in isolation: never raises.

    Anything it raises (a RecursionError from a body nested 100,000 levels deep, a bug,
    a locked database) is recorded on the delivery with its reason: transient errors are
    retried later with backoff, the rest mark it failed. None when even that could not be
    written (the sweeper comes back to it).
    """
    try:
        return delivery_process(delivery_id=delivery_id, attempt=attempt, now=now, delivery=delivery)
    except Exception as exc:
        logger.exception("Delivery %s failed", delivery_id)
        try:
            return delivery_failed(delivery_id=delivery_id, exc=exc, now=now)
        except Exception:
            logger.exception("Could not record the failure of delivery %s; the sweeper will retry it", delivery_id)
            return None


def delivery_failed(*, delivery_id: int, exc: BaseException, now: datetime | None = None) -> WebhookDelivery:
    """Record why a delivery failed: retried later when transient and attempts remain, else failed."""
    db_connection_recover()
    delivery = WebhookDelivery.objects.defer("body").get(pk=delivery_id)
    attempts = max(delivery.attempts, 1)
    reason = error_reason(exc, limit=2000)
    if is_transient_error(exc) and attempts < settings.PIPELINE_MAX_ATTEMPTS:
        return _delivery_retry_later(delivery, error=reason, now=now)
    if is_transient_error(exc):
        reason = f"Gave up after {attempts} attempts: {reason}"
    return _delivery_finish(delivery, state=DeliveryState.FAILED, error=reason, count=0)


def _delivery_retry_later(delivery: WebhookDelivery, *, error: str, now: datetime | None) -> WebhookDelivery:
    from conversations.tasks import delivery_process_task

    attempts = max(delivery.attempts, 1)
    delay = retry_delay(attempts)
    delivery.next_attempt_at = (now or timezone.now()) + timedelta(seconds=delay)
    error = f"Attempt {attempts} of {settings.PIPELINE_MAX_ATTEMPTS} failed; retrying: {error}"
    finished = _delivery_finish(delivery, state=DeliveryState.RETRYING, error=error, count=delivery.events_count)
    delivery_id = delivery.pk
    transaction.on_commit(lambda: delivery_process_task.apply_async((delivery_id,), countdown=delay), robust=True)
    return finished


def delivery_process(
    *, delivery_id: int, attempt: int = 0, now: datetime | None = None, delivery: WebhookDelivery | None = None
) -> WebhookDelivery:
    """Parse a stored delivery and apply its events. Safe to run again (idempotent).

    `attempt` counts the re-runs for statuses whose message was not stored yet; the
    delivery's own `attempts` count its runs after transient failures.
    """
    if delivery is None:  # the drain passes the row it read with its batch
        delivery = WebhookDelivery.objects.get(pk=delivery_id)
    if delivery.state == DeliveryState.REJECTED:
        return delivery
    pending = delivery.state in (DeliveryState.RECEIVED, DeliveryState.RETRYING)
    if pending and delivery.attempts > settings.PIPELINE_MAX_ATTEMPTS:
        # Every earlier attempt started and never finished (its worker died or was killed).
        error = f"Gave up after {delivery.attempts - 1} attempts that did not finish. {delivery.error}".strip()
        return _delivery_finish(delivery, state=DeliveryState.FAILED, error=error, count=0)
    try:
        payload = json.loads(bytes(delivery.body).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _delivery_finish(delivery, state=DeliveryState.FAILED, error=f"Body is not valid JSON: {exc}", count=0)

    result = get_provider_class(delivery.provider).parse(payload)
    unmatched: list[StatusUpdate | OutboundEcho] = []  # parsed again later: their message may be stored by then
    transient: list[str] = []
    applied = 0
    finished: list[bool] = []  # set once the last message's own transaction finished the delivery
    for index, event in enumerate(result.events):
        try:
            if isinstance(event, InboundMessage):
                last_clean = index == len(result.events) - 1 and not (result.problems or unmatched or transient)
                message_store_inbound(
                    provider=delivery.provider,
                    event=event,
                    before_commit=_delivery_finish_in_turn(delivery, count=applied + 1, done=finished)
                    if last_clean
                    else None,
                )
            elif isinstance(event, StatusUpdate):
                if not status_apply(provider=delivery.provider, event=event):
                    unmatched.append(event)
            elif isinstance(event, OutboundEcho):
                final = attempt >= len(STATUS_RETRY_DELAYS)
                if echo_apply(provider=delivery.provider, event=event, final=final) == ECHO_WAIT:
                    unmatched.append(event)
            elif isinstance(event, ThreadStatus):
                thread_status_apply(provider=delivery.provider, event=event)
            elif isinstance(event, ProviderNotice):
                # Errors the provider reports about the account or a message (e.g. Meta's value.errors):
                # kept on the delivery, which is then listed as "processed with unknown parts".
                logger.warning("Provider notice %s: %s %s", event.code, event.title, event.detail)
                notice = " — ".join(p for p in (event.title, event.detail) if p)
                result.problems.append(f"{delivery.provider} notice {event.code}: {notice}")
            applied += 1
        except Exception as exc:  # one bad event must not lose the others
            logger.exception("Failed to apply event from delivery %s", delivery.pk)
            problem = f"{type(event).__name__} {getattr(event, 'provider_message_id', '')}: {error_reason(exc)}"
            if is_transient_error(exc):
                transient.append(problem)
            else:
                result.problems.append(problem)

    attempts = max(delivery.attempts, 1)
    if transient and attempts < settings.PIPELINE_MAX_ATTEMPTS:
        # Parsed again later: stored messages and applied statuses are no-ops the second time.
        return _delivery_retry_later(delivery, error="\n".join([*transient, *result.problems]), now=now)
    if transient:
        result.problems.extend(f"Gave up after {attempts} attempts: {problem}" for problem in transient)

    if unmatched and attempt < len(STATUS_RETRY_DELAYS):
        from conversations.tasks import delivery_process_task

        delay = STATUS_RETRY_DELAYS[attempt]
        transaction.on_commit(
            lambda: delivery_process_task.apply_async((delivery.pk, attempt + 1), countdown=delay), robust=True
        )
    elif unmatched:
        result.problems.append(
            "status or echo for unknown message(s): " + ", ".join(e.provider_message_id for e in unmatched[:5])
        )
    if finished and not (result.problems or unmatched or transient):
        return delivery  # written processed by the message's own transaction
    state = DeliveryState.PARTIAL if result.problems else DeliveryState.PROCESSED
    if not result.events and result.problems:
        state = DeliveryState.FAILED
    return _delivery_finish(delivery, state=state, error="\n".join(result.problems), count=applied)


def _delivery_finish(delivery: WebhookDelivery, *, state: str, error: str, count: int) -> WebhookDelivery:
    delivery.state = state
    delivery.error = error[:5000]
    delivery.events_count = count
    delivery.processed_at = timezone.now()
    if state != DeliveryState.RETRYING:
        delivery.next_attempt_at = None
    row_update(delivery, ["state", "error", "events_count", "processed_at", "next_attempt_at"], later=True)
    return delivery


def _delivery_finish_in_turn(delivery: WebhookDelivery, *, count: int, done: list[bool]) -> Callable[[], None]:
    """Mark the delivery processed inside the transaction that stores (and answers) its last message.

    Most deliveries carry one message: finishing them in the turn's own commit spares each an UPDATE
    committed on its own afterwards (a round trip, a commit and a server wake-up per message). ``done``
    gets True once that transaction has committed; if it rolls back, the delivery is finished as usual.
    """

    def finish() -> None:
        _delivery_finish(delivery, state=DeliveryState.PROCESSED, error="", count=count)
        transaction.on_commit(lambda: done.append(True))

    return finish


def message_store_inbound(
    *, provider: str, event: InboundMessage, before_commit: Callable[[], None] | None = None
) -> Message | None:
    """Store one inbound message; None when it was already stored (a retry or a concurrent duplicate).

    A message the bots can answer at once (no media to fetch, nothing to enrich: text, buttons,
    locations...) whose conversation has no older message still waiting is answered in the same
    transaction (``processing.message_turn_inline``): stored, answered and its replies queued in
    one commit. The others are stored pending and a worker processes them in order.

    The bots' turn has no savepoint of its own (two statements fewer on every turn): when it fails,
    the whole transaction rolls back and the message is stored again, pending, with the failure
    recorded and its retry scheduled (``processing.message_turn_failed``), as a worker's turn would.

    ``before_commit`` runs last in the transaction that stores the message (when it is stored and
    answered or queued without a failure): the drain finishes the delivery there.
    """
    try:
        return _message_store(provider=provider, event=event, answer_inline=True, before_commit=before_commit)
    except _StoredElsewhere:  # the turn rolled back: nothing of it is kept
        return None
    except InlineTurnFailed as failed:
        message = _message_store(provider=provider, event=event, answer_inline=False, enqueue=False)
        if message is not None:
            message_turn_failed(message=message, exc=failed.error)
        return message


def _message_store(
    *,
    provider: str,
    event: InboundMessage,
    answer_inline: bool,
    enqueue: bool = True,
    before_commit: Callable[[], None] | None = None,
) -> Message | None:
    channel = channel_for_inbound(provider=provider, external_id=event.channel_external_id)
    kind = event.kind if event.kind in MessageKind.values else MessageKind.UNSUPPORTED
    media_state = MediaState.PENDING if event.kind in MEDIA_KINDS and event.media else MediaState.NONE
    # The pipeline runner's earlier replies that went out meanwhile are recorded "sent" in this transaction.
    with sent_records_with_turn() as write_sent, transaction.atomic():
        write_sent()
        # Asked under the conversation's row lock: a duplicate stored by another worker has committed by now.
        conversation, (stored, inbound_waiting, outbound_waiting) = _conversation_locked(
            provider=provider, channel=channel, event=event
        )
        if stored:
            return None
        now = timezone.now()
        session_reset = _session_expired(conversation, now)
        inline = answer_inline and message_answerable_inline(kind=kind, media_state=media_state) and not inbound_waiting
        turn_sends_known(conversation, outbound_waiting=outbound_waiting)
        message = Message(
            conversation=conversation,
            direction="in",
            kind=kind,
            text=event.text,
            caption=event.caption,
            data=_message_data(event, session_reset=session_reset),
            media_provider_id=event.media.media_id if event.media else "",
            media_mime=event.media.mime_type if event.media else "",
            media_original_url=(event.media.url if event.media else "")[:2000],
            media_state=media_state,
            provider=provider,
            provider_message_id=event.provider_message_id,
            reply_to_provider_id=event.reply_to,
            status="received",
            processing_state=ProcessingState.DONE if inline else ProcessingState.PENDING,
            raw=event.raw,
            provider_timestamp=event.sent_at,
        )

        def created() -> None:
            events.broadcast_on_commit(
                groups=events.groups_for(conversation), name=events.MESSAGE_CREATED, data=message_event_data(message)
            )

        def store() -> None:
            if not _insert_unless_raced(message):  # stored in another chat: its unique id refuses it
                raise _StoredElsewhere(event.provider_message_id)
            created()

        if inline:  # stored when the turn first needs it: what the bots note on it rides in its INSERT
            turn_message_defer(conversation, store)
        else:
            try:
                store()
            except _StoredElsewhere:
                return None
        # The conversation's writes of this turn (the touch, the reply's preview, the bot's step and
        # status) go out in one UPDATE at its end (conversations.services.writes).
        touch = _inbound_touch(conversation, message=message, now=now, session_reset=session_reset)
        touch.update(_thread_touch(conversation, provider=provider, event=event))
        conversation_defer(conversation, touch)
        if inline:
            message_turn_inline(conversation=conversation, message=message)
        turn_message_store(conversation)
        conversation_turn_end(conversation)
        events.broadcast_on_commit(
            groups=events.groups_for(conversation),
            name=events.CONVERSATION_UPDATED,
            data=conversation_event_data(conversation),
        )
        if not inline and enqueue:
            from conversations.tasks import conversation_process_task

            conversation_id = conversation.pk
            transaction.on_commit(lambda: conversation_process_task.delay(conversation_id), robust=True)
        if before_commit is not None:
            before_commit()
    return message


class _StoredElsewhere(IntegrityError):
    """The message is stored in another chat (its unique id refused it): the turn rolls back, as on a
    database error (no bot failure is recorded), and stores nothing."""


#: A turn's questions before storing: (stored already in this chat, an inbound message of the chat waiting,
#: a reply of the chat waiting). A message stored in another chat is refused by its unique id at the INSERT.
Questions = tuple[bool, bool, bool]


def _conversation_locked(*, provider: str, channel: Any, event: InboundMessage) -> tuple[Conversation, Questions]:
    """The sender's conversation on this channel, row-locked for the transaction (created with its contact if
    new), and the turn's questions about it.

    A returning customer costs one statement (conversation and contact joined, the questions and the chat's
    roles in it); a new one a read and two INSERTs (a row this transaction inserted is locked by it until the
    commit), and no question: its chat has no message and no role yet.
    """

    def read() -> tuple[Conversation, Questions] | None:
        return _conversation_read_locked(
            channel_id=channel.pk,
            provider=provider,
            external_id=event.contact_external_id,
            provider_message_id=event.provider_message_id,
        )

    found = read()
    if found is None:
        contact = _contact_upsert(provider=provider, event=event)
        conversation = Conversation(contact=contact, channel=channel, step=settings.INITIAL_STEP)
        if _insert_unless_raced(conversation):
            groups_remember(conversation, role_ids=[])  # a new chat has no role yet: no query for its events
            conversation.channel = channel
            return conversation, (False, False, False)
        # Another worker's first message of this chat came first (committed, or the INSERT would still wait).
        found = read()
        if found is None:
            raise Conversation.DoesNotExist(f"chat of contact {contact.pk} on channel {channel.pk}")
    else:
        _contact_update(found[0].contact, event=event)
    conversation, asked = found
    conversation.channel = channel  # the one kept for this process: no query when a reply is queued
    return conversation, asked


# A returning customer's chat and contact, joined and row-locked, with the turn's questions: the first
# statement of every turn, as plain SQL built once (the ORM compiles this select_for_update +
# select_related query on every call: about 0.6 ms of CPU against 0.04 ms to run it). The questions are
# subqueries on the locked row's id, so they run once the row is locked and read what was committed by
# then (READ COMMITTED reads afresh; a MariaDB test checks it: a subquery that does not name the row can
# be read before the lock wait, from what was committed before it). They are: is this message stored
# already in this chat (a duplicate: no second reply), is an inbound message of the chat still waiting for
# its turn (a new one waits behind it), is a reply of the chat queued or being sent (new replies go behind
# it), and which roles the chat has (the console groups of the turn's events).
_CONVERSATION_SQL = (
    "SELECT {conversation_columns}, {contact_columns}, {questions} FROM {conversation} INNER JOIN {contact}"
    " ON {conversation}.{contact_id} = {contact}.{id} WHERE {conversation}.{channel_id} = %s"
    " AND {contact}.{provider} = %s AND {contact}.{external_id} = %s ORDER BY {conversation}.{id} LIMIT 1"
)
# The questions of a locked chat, about the row whose quoted id column replaces @chat@.
_LOCKED_QUESTIONS_SQL = (
    "EXISTS(SELECT 1 FROM {table} WHERE {provider} = %s AND {provider_message_id} = %s AND {conversation} = @chat@),"
    " EXISTS(SELECT 1 FROM {table} WHERE {conversation} = @chat@ AND {direction} = 'in' AND {processing_state} = %s),"
    " EXISTS(SELECT 1 FROM {table} WHERE {conversation} = @chat@ AND {direction} = 'out' AND {status} IN (%s, %s))"
)
#: The chat's role ids as one text ("3,5"; NULL for none): GROUP_CONCAT, which MySQL/MariaDB and SQLite share.
_ROLES_SQL = "(SELECT GROUP_CONCAT({role}) FROM {table} WHERE {conversation} = @chat@)"


def _conversation_read_locked(
    *, channel_id: int, provider: str, external_id: str, provider_message_id: str
) -> tuple[Conversation, Questions] | None:
    """The returning customer's chat (its contact joined), row-locked, and the turn's questions; its roles
    are remembered on it. None for a new customer."""
    reads_roles = _reads_roles()
    params: list[Any] = [
        provider,
        provider_message_id,
        ProcessingState.PENDING,
        MessageStatus.QUEUED,
        MessageStatus.SENDING,
        channel_id,
        provider,
        external_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_conversation_sql(connection.vendor, reads_roles), params)
        row = cursor.fetchone()
    if row is None:
        return None
    conversation, after = model_from_row(Conversation, row)
    conversation.contact, after = model_from_row(Contact, row, after)
    stored, inbound_waiting, outbound_waiting, roles = row[after:]
    if reads_roles:
        groups_remember(conversation, role_ids=_role_ids_from(roles))
    return conversation, (bool(stored), bool(inbound_waiting), bool(outbound_waiting))


def _reads_roles() -> bool:
    """GROUP_CONCAT, which the turn's questions read the chat's roles with, is MySQL/MariaDB's and SQLite's."""
    return connection.vendor in ("mysql", "sqlite")


@lru_cache(maxsize=8)
def _conversation_sql(vendor: str, roles: bool) -> str:
    from accounts.models import ChatRole

    quote = connection.ops.quote_name
    chat = f"{quote(Conversation._meta.db_table)}.{quote(Conversation._meta.pk.column)}"
    questions = model_sql(Message, _LOCKED_QUESTIONS_SQL).replace("@chat@", chat)
    roles_sql = model_sql(ChatRole, _ROLES_SQL).replace("@chat@", chat) if roles else "NULL"
    sql = _CONVERSATION_SQL.format(
        conversation_columns=model_columns(Conversation),
        contact_columns=model_columns(Contact),
        questions=f"{questions}, {roles_sql}",
        conversation=quote(Conversation._meta.db_table),
        contact=quote(Contact._meta.db_table),
        contact_id=quote(Conversation._meta.get_field("contact").column),
        channel_id=quote(Conversation._meta.get_field("channel").column),
        id=quote(Contact._meta.pk.column),
        provider=quote(Contact._meta.get_field("provider").column),
        external_id=quote(Contact._meta.get_field("external_id").column),
    )
    if connection.features.has_select_for_update:  # SQLite: the transaction holds the write lock already
        sql += " FOR UPDATE"
    return sql


def _insert_unless_raced(row: Any) -> bool:
    """INSERT a new row that a unique constraint may refuse (the row exists, or a concurrent transaction
    inserted it first): False then, and the transaction goes on.

    MySQL/MariaDB and SQLite roll back only the refused statement, never the transaction around it, so
    no savepoint is needed there (a savepoint and its release are two round trips for every new
    customer); other databases get one.
    """
    if connection.vendor in ("mysql", "sqlite") and connection.in_atomic_block:
        try:
            row_insert(row)
        except IntegrityError:
            return False
        return True
    try:
        with transaction.atomic():  # a savepoint: the refused INSERT leaves the transaction usable
            row_insert(row)
    except IntegrityError:
        return False
    return True


def _role_ids_from(text: str | bytes | None) -> list[int]:
    """GROUP_CONCAT's "3,5" (text or bytes, NULL for none) as sorted role ids. Pure."""
    if isinstance(text, bytes):
        text = text.decode()
    return sorted(int(part) for part in (text or "").split(",") if part.strip())


def _contact_upsert(*, provider: str, event: InboundMessage) -> Contact:
    """The sender's contact, created unless it exists (it wrote to another of our numbers before):
    a new customer costs one INSERT, an existing contact a refused INSERT and a read."""
    contact = Contact(
        provider=provider,
        external_id=event.contact_external_id,
        profile_name=event.contact_name[:200],
        phone=_phone(provider, event),
        referral=event.referral,
    )
    if _insert_unless_raced(contact):
        return contact
    contact = Contact.objects.get(provider=provider, external_id=event.contact_external_id)
    _contact_update(contact, event=event)
    return contact


def _phone(provider: str, event: InboundMessage) -> str:
    """A WhatsApp customer's number from their id (wa_id: digits); Instagram and Facebook ids are no numbers."""
    whatsapp = (event.platform or provider_platform(provider)) == "whatsapp"
    return "+" + event.contact_external_id if whatsapp and event.contact_external_id.isdigit() else ""


def _contact_update(contact: Contact, *, event: InboundMessage) -> None:
    """What the customer's profile says now (name, the ad they came from), saved only when it changed."""
    changed = []
    if event.contact_name and event.contact_name[:200] != contact.profile_name:
        contact.profile_name = event.contact_name[:200]
        changed.append("profile_name")
    if event.referral and event.referral != contact.referral:
        contact.referral = event.referral
        changed.append("referral")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])


def _session_expired(conversation: Conversation, now: Any) -> bool:
    last = conversation.last_activity_at
    return bool(last and settings.SESSION_TIMEOUT and now - last > timedelta(seconds=settings.SESSION_TIMEOUT))


def _message_data(event: InboundMessage, *, session_reset: bool) -> dict[str, Any]:
    data = dict(event.data)
    if event.interactive_id:
        data["interactive_id"] = event.interactive_id
    if event.referral:
        data["referral"] = event.referral
    if event.errors:
        data["errors"] = list(event.errors)
    if event.unknown:
        data["unknown_type"] = True
    if event.media:
        data["media"] = {k: v for k, v in asdict(event.media).items() if v}
    if session_reset:
        data["session_reset"] = True
    return data


def _inbound_touch(conversation: Conversation, *, message: Message, now: Any, session_reset: bool) -> dict[str, Any]:
    """Set what a new inbound message changes on its conversation; returns those fields and values."""
    values: dict[str, Any] = {
        "last_activity_at": now,
        "last_inbound_at": now,
        "unread_count": conversation.unread_count + 1,  # read under the row lock in this transaction
        "last_message_preview": (message.text or message.caption or f"[{message.kind}]")[:200],
    }
    if session_reset and not conversation.bot_paused:
        values["step"] = settings.INITIAL_STEP
    for name, value in values.items():
        setattr(conversation, name, value)
    for name in conversation_reopen(conversation, save=False):  # written and broadcast with the rest
        values[name] = getattr(conversation, name)
    return values


def _thread_touch(conversation: Conversation, *, provider: str, event: InboundMessage) -> dict[str, Any]:
    """Where the customer writes from, and the provider's conversation replies go to, when they changed."""
    values = {
        "platform": event.platform or provider_platform(provider),
        "provider_thread_id": event.thread_id[:100],
    }
    changed = {name: value for name, value in values.items() if value and getattr(conversation, name) != value}
    for name, value in changed.items():
        setattr(conversation, name, value)
    return changed


def status_apply(*, provider: str, event: StatusUpdate) -> bool:
    """Move an outbound message's ticks forward; False when no message has that id (yet)."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(provider=provider, provider_message_id=event.provider_message_id)
            .first()
        )
        if message is None:
            message = _unsent_message_for_status(provider=provider, event=event)
        if message is None:
            return False
        new_rank = STATUS_RANK.get(event.status, -1)
        old_rank = STATUS_RANK.get(message.status, -1)
        fields = ["updated_at"]
        at = event.timestamp or timezone.now()
        if event.status == "delivered" and not message.delivered_at:
            message.delivered_at = at
            fields.append("delivered_at")
        if event.status in ("read", "played"):
            if not message.read_at:
                message.read_at = at
                fields.append("read_at")
            if not message.delivered_at:
                message.delivered_at = at  # Meta skips "delivered" when read at once
                fields.append("delivered_at")
        if event.status == "sent" and not message.sent_at:
            message.sent_at = at
            fields.append("sent_at")
        if new_rank > old_rank and message.status != "failed":
            message.status = "read" if event.status == "played" else event.status
            fields.append("status")
            if event.status == "failed":
                message.error_code = event.error_code[:50]
                message.error_message = " — ".join(p for p in (event.error_title, event.error_detail) if p)
                fields += ["error_code", "error_message"]
                if message.direction == "out":
                    attention.conversation_flag_attention(
                        conversation_id=message.conversation_id,
                        reason=attention.send_failure_reason(code=message.error_code, attempts=0),
                    )
        if message.provider_message_id != event.provider_message_id:
            # A send we thought had not gone out (the worker died, or the call timed out after the
            # provider took it): it did. Recorded now, so no flush or sweep sends it again.
            message.provider_message_id = event.provider_message_id
            message.next_attempt_at = None
            fields += ["provider_message_id", "next_attempt_at"]
            if event.status != "failed":
                message.error_code = message.error_message = ""  # a "Retrying: ..." note no longer applies
                fields += ["error_code", "error_message"]
                if not message.sent_at:
                    message.sent_at = at
                    fields.append("sent_at")
        message.save(update_fields=fields)
    events.broadcast_on_commit(
        groups=events.groups_for(message.conversation), name=events.MESSAGE_UPDATED, data=message_event_data(message)
    )
    return True


def _unsent_message_for_status(*, provider: str, event: StatusUpdate) -> Message | None:
    """Our outbound message a status's callback data names, if we still have it as not sent (no provider id)."""
    from conversations.services.outbound import callback_message_id

    message_id = callback_message_id(event.callback_data) if event.callback_data else None
    if message_id is None:
        return None
    return (
        Message.objects.select_for_update()
        .filter(
            pk=message_id,
            provider=provider,
            direction="out",
            provider_message_id__isnull=True,
            status__in=(MessageStatus.QUEUED, MessageStatus.SENDING),
        )
        .first()
    )
