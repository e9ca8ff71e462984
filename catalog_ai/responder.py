"""The AI's turn in the conversation pipeline: a sliding-window buffer, then one answer per burst.

When the rule engine hands a message to the AI (the chat is in the hand-off step and the AI
is on), the rules' responder flags it ``Message.awaiting_ai``; the AI's responder
(``ai_respond``, registered after the rules' in ``conversations.services.bots``) then calls
``ai_turn_schedule``. Customers often write in bursts ("hola" / "una pregunta" / a photo /
"¿cuánto vale este?"), so the AI waits for silence and answers the burst once:

- Sliding window (seed: "Buffering & Contexto"): each message pushes the conversation's
  deadline to ``max(deadline, now + window)``: AI_BUFFER_TEXT_SECONDS (10 s) after a text,
  audio or anything else, AI_BUFFER_IMAGE_SECONDS (20 s) after an image, so that its
  description is ready. A later text never shortens an image's 20 s. The deadline lives in
  Redis (``wia:ai:deadline:<id>``; Redis's own clock, so every worker agrees).
- One task chain per conversation: the first message of a burst enqueues
  ``ai_respond_task`` with a countdown to the deadline (after commit); later messages only
  move the deadline. The task wakes, and if the deadline moved it sleeps again for the rest
  (``TurnResult.retry_in``). Both steps are atomic Lua scripts on a ``pending`` flag, so a
  message arriving while the task wakes either moves the deadline the task then sees, or
  starts a new chain: none is lost.
- The answer (under the per-conversation lock ``wia:lock:ai:<id>``): every inbound message
  still ``awaiting_ai`` (within the session timeout) becomes the question — texts, audio
  transcriptions, image captions — with, as context, the 10 messages before the burst, the
  descriptions of the images the customer sent in this conversation within the last
  ``EnrichmentSettings.visual_context_minutes`` before the burst's last message (the burst's own
  included; the newest five: ``visual_context``) and the headline of the ad that brought them.
  ``catalog_ai.answerer.answer_question`` answers; the text and up to three catalog page
  images (files under MEDIA_ROOT, uploaded to the provider when sent; caption "Página N") are queued
  and the flags cleared in one transaction. The slow part (retrieval, the model) runs
  outside any database transaction.
- Safe to run twice: a second run finds no message awaiting and does nothing. AI switched
  off when the task runs: nothing happens (the engine routes those chats back to the rules).
  A human who took the chat, or a customer who left the hand-off step meanwhile (a global
  command), gets no AI answer: the flags are cleared with the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog_ai.answerer import Answer, answer_question
from catalog_ai.prompting import ContextMessage, ConversationContext, guess_language
from conversations.services.bots import Handoff
from whatsapp_ia.locks import conversation_lock
from whatsapp_ia.redis_client import redis_client, redis_script

if TYPE_CHECKING:
    from catalog_ai.models import AISettings
    from conversations.models import Conversation, Message

__all__ = [
    "HISTORY_MESSAGES",
    "VISUAL_CONTEXT_LIMIT",
    "SeenImage",
    "TurnResult",
    "ai_deadline_push",
    "ai_handoff",
    "ai_respond",
    "ai_turn_run",
    "ai_turn_run_now",
    "ai_turn_schedule",
    "ai_turns_sweep",
    "buffer_seconds",
    "visual_context",
]

logger = logging.getLogger(__name__)

HISTORY_MESSAGES = 10
VISUAL_CONTEXT_LIMIT = 5  # image descriptions at most in the AI's visual context (the newest)
_PENDING_GRACE = 300  # seconds the pending flag outlives the deadline (a lost task stops blocking new ones)
_BUSY_RETRY = 2.0

# Both scripts act at Redis's clock (TIME, one clock for every worker) unless a caller gives `now`
# (a test's fake clock), as epoch seconds in their last argument ("" = Redis's clock).
_NOW_LUA = """
local function moment(given)
  if given ~= nil and given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""
# KEYS: deadline, pending. ARGV: window seconds, key ttl, now. -> {1 if a task must be enqueued, seconds to wait}
_PUSH_LUA = (
    _NOW_LUA
    + """
local now = moment(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local deadline = math.max(current, now + tonumber(ARGV[1]))
local ttl = math.ceil(deadline - now) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', deadline), 'EX', ttl)
local fresh = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ttl)
return {fresh and 1 or 0, string.format('%.6f', deadline - now)}
"""
)
# KEYS: deadline, pending. ARGV: key ttl, now. -> seconds still to wait ("0": go, and the chain ends here)
_CHECK_LUA = (
    _NOW_LUA
    + """
local now = moment(ARGV[2])
local deadline = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if deadline - now > 0.02 then
  redis.call('SET', KEYS[2], '1', 'EX', math.ceil(deadline - now) + tonumber(ARGV[1]))
  return string.format('%.6f', deadline - now)
end
redis.call('DEL', KEYS[2])
return '0'
"""
)


def _redis() -> redis.Redis:
    return redis_client()


def _scripts() -> tuple[Any, Any]:
    return redis_script(_PUSH_LUA), redis_script(_CHECK_LUA)


def _keys(conversation_id: int) -> list[str]:
    return [f"wia:ai:deadline:{conversation_id}", f"wia:ai:pending:{conversation_id}"]


@dataclass(frozen=True)
class TurnResult:
    state: str  # waiting | busy | disabled | gone | nothing | skipped | answered
    retry_in: float | None = None  # run the task again in this many seconds
    answer: Answer | None = None


def buffer_seconds(message: Message) -> float:
    """The silence to wait for after ``message``: longer after an image (its description takes a while)."""
    if message.kind == "image":
        return float(getattr(settings, "AI_BUFFER_IMAGE_SECONDS", 20))
    return float(getattr(settings, "AI_BUFFER_TEXT_SECONDS", 10))


def _moment(now: float | None) -> str:
    return "" if now is None else f"{now:.6f}"


def ai_deadline_push(*, conversation_id: int, seconds: float, now: float | None = None) -> tuple[bool, float]:
    """Move the conversation's deadline to max(deadline, now + seconds).

    Returns (whether the caller must enqueue the task, seconds from now to the deadline).
    `now` (epoch seconds) is for tests; by default Redis's clock decides.
    """
    push, _check = _scripts()
    fresh, remaining = push(keys=_keys(conversation_id), args=[seconds, _PENDING_GRACE, _moment(now)])
    return bool(int(fresh)), float(remaining)


def _deadline_check(conversation_id: int, now: float | None = None) -> float:
    _push, check = _scripts()
    return float(check(keys=_keys(conversation_id), args=[_PENDING_GRACE, _moment(now)]))


def _enqueue(conversation_id: int, countdown: float) -> None:
    from catalog_ai.tasks import ai_respond_task

    ai_respond_task.apply_async((conversation_id,), countdown=max(countdown, 0.0) or None)


def ai_turn_schedule(*, conversation: Conversation, message: Message) -> None:
    """Buffer ``message`` for the AI: after commit, push the deadline and start the task chain if none runs."""
    conversation_id = conversation.pk
    seconds = buffer_seconds(message)

    def push() -> None:
        enqueue, remaining = ai_deadline_push(conversation_id=conversation_id, seconds=seconds)
        if enqueue:
            _enqueue(conversation_id, remaining)

    transaction.on_commit(push, robust=True)


def ai_respond(*, conversation: Conversation, message: Message) -> bool:
    """The AI's responder: buffer a message the rules handed to it (``awaiting_ai``); the turn ends there."""
    if not message.awaiting_ai:
        return False
    ai_turn_schedule(conversation=conversation, message=message)
    return True


# The rule engine asks for the hand-off on every turn: kept per process for a few seconds (dropped
# when the AI settings are saved in this process); another process's change shows within _HANDOFF_TTL.
_HANDOFF_TTL = 5.0
_handoff_kept: tuple[float, Handoff] | None = None


def ai_handoff_cache_clear(**_: Any) -> None:
    """Forget the kept hand-off (the AI settings changed; tests)."""
    global _handoff_kept
    _handoff_kept = None


def ai_handoff(*, create: bool = True) -> Handoff:
    """Whether the AI answers now, and the step whose chats it answers (for the rules' engine and editor).

    ``create=False`` reads the settings row without creating it (settings.AI_HANDOFF_STEP when missing).
    """
    from catalog_ai.models import AISettings

    if create:
        global _handoff_kept
        kept = _handoff_kept
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        ai = AISettings.load()
        handoff = Handoff(enabled=ai.enabled, step=ai.handoff_step)
        _handoff_kept = (time.monotonic() + _HANDOFF_TTL, handoff)
        return handoff
    stored = AISettings.objects.filter(pk=1).values_list("enabled", "handoff_step").first()
    if stored is None:
        return Handoff(enabled=bool(settings.AI_MODE_ENABLED), step=settings.AI_HANDOFF_STEP)
    return Handoff(enabled=stored[0], step=stored[1] or settings.AI_HANDOFF_STEP)


def ai_turn_run_now(*, conversation_id: int) -> TurnResult:
    """Answer the messages waiting for the AI at once, without the buffer window (the bot simulator's way)."""
    with conversation_lock("ai", conversation_id, timeout=600) as held:
        if not held:
            return TurnResult("busy", retry_in=_BUSY_RETRY)
        return _burst_answer(conversation_id)


def ai_turn_run(*, conversation_id: int, now: float | None = None) -> TurnResult:
    """The task's body: wait out the window, then answer the burst once (see the module docstring).

    `now` (epoch seconds) is for tests; by default Redis's clock decides.
    """
    remaining = _deadline_check(conversation_id, now)
    if remaining > 0:
        return TurnResult("waiting", retry_in=remaining)
    with conversation_lock("ai", conversation_id, timeout=600) as held:
        if not held:
            return TurnResult("busy", retry_in=_BUSY_RETRY)
        return _burst_answer(conversation_id)


def _awaiting(conversation_id: int) -> list[Message]:
    from conversations.models import Message

    since = timezone.now() - timedelta(seconds=max(int(getattr(settings, "SESSION_TIMEOUT", 0) or 0), 3600))
    return list(
        Message.objects.filter(
            conversation_id=conversation_id, direction="in", awaiting_ai=True, created_at__gte=since
        ).order_by("created_at", "id")
    )


def _in_ai(conversation: Conversation, ai: AISettings) -> bool:
    from conversations.models import ConversationStatus

    return (
        ai.enabled
        and conversation.status == ConversationStatus.AI
        and not conversation.bot_paused
        and conversation.step == ai.handoff_step
    )


def _clear(messages: list[Message], **notes: Any) -> None:
    for message in messages:
        message.awaiting_ai = False
        message.data = {**message.data, **notes}
        message.save(update_fields=["awaiting_ai", "data", "updated_at"])


def _said(message: Message) -> str:
    return (message.text or message.transcription or message.caption or "").strip()


def _history(conversation_id: int, *, before: Message) -> tuple[ContextMessage, ...]:
    from conversations.models import Message

    rows = list(
        Message.objects.filter(conversation_id=conversation_id, created_at__lte=before.created_at)
        .exclude(pk=before.pk)
        .exclude(created_at=before.created_at, id__gt=before.pk)
        .order_by("-created_at", "-id")[:HISTORY_MESSAGES]
    )
    out = []
    for row in reversed(rows):
        text = _said(row)
        if row.image_description:
            text = f"{text} [imagen: {row.image_description.strip()}]".strip()
        if text:
            out.append(ContextMessage(role="customer" if row.direction == "in" else "business", text=text))
    return tuple(out)


@dataclass(frozen=True)
class SeenImage:
    """One image of the visual context: its description and where it came from ("vision", "ocr" or "")."""

    description: str
    source: str = ""


def visual_context(
    conversation_id: int, *, burst: Sequence[Message], minutes: int | None = None, limit: int = VISUAL_CONTEXT_LIMIT
) -> tuple[SeenImage, ...]:
    """The images the AI's answer keeps in mind: the customer's recent ones in this conversation, oldest first.

    The burst's own described images, plus those of this conversation's inbound messages sent within
    ``minutes`` (default: ``EnrichmentSettings.load().visual_context_minutes``) before the burst's last
    message; the newest ``limit``. 0 minutes: the burst's own images only. One indexed query
    (conversation, created_at), none at 0 minutes.
    """
    from conversations.models import Message

    if not burst or limit <= 0:
        return ()
    if minutes is None:
        from conversations.models import EnrichmentSettings

        minutes = EnrichmentSettings.load().visual_context_minutes
    found: list[tuple[Any, int, str, str]] = [
        (m.created_at, m.pk, m.image_description.strip(), _image_source(m.data))
        for m in burst
        if m.image_description and m.image_description.strip()
    ]
    if minutes > 0:
        until = max(m.created_at for m in burst)
        rows = (
            Message.objects.filter(
                conversation_id=conversation_id,
                created_at__gte=until - timedelta(minutes=minutes),
                created_at__lte=until,
                direction="in",
            )
            .exclude(image_description="")
            .exclude(pk__in=[m.pk for m in burst])
            .order_by("-created_at", "-id")
            # a few spare rows: a description of blanks only is skipped below
            .values_list("created_at", "id", "image_description", "data__enrichment__source")[: limit * 2]
        )
        found += [(at, pk, text.strip(), str(source or "")) for at, pk, text, source in rows if text.strip()]
    found.sort(key=lambda row: (row[0], row[1]))
    return tuple(SeenImage(description=text, source=source) for _at, _pk, text, source in found[-limit:])


def _image_source(data: Any) -> str:
    enrichment = data.get("enrichment") if isinstance(data, dict) else None
    return str(enrichment.get("source") or "") if isinstance(enrichment, dict) else ""


def _ad_headline(conversation: Conversation, burst: list[Message]) -> str:
    for message in reversed(burst):
        referral = message.data.get("referral") or {}
        if isinstance(referral, dict) and referral.get("headline"):
            return str(referral["headline"])
    referral = conversation.contact.referral or {}
    return str(referral.get("headline", "")) if isinstance(referral, dict) else ""


def _burst_answer(conversation_id: int) -> TurnResult:
    from catalog_ai.models import AISettings
    from conversations.models import Conversation

    ai = AISettings.load()
    if not ai.enabled:
        return TurnResult("disabled")
    conversation = Conversation.objects.select_related("contact", "channel").filter(pk=conversation_id).first()
    if conversation is None:
        return TurnResult("gone")
    burst = _awaiting(conversation_id)
    if not burst:
        return TurnResult("nothing")
    if not _in_ai(conversation, ai):
        with transaction.atomic():
            _clear(burst, ai_skipped="left_ai")
        return TurnResult("skipped")

    question = "\n".join(text for text in (_said(m) for m in burst) if text)
    images = visual_context(conversation_id, burst=burst)
    if not question and not images:
        # Nothing the AI can read (a photo not described, a sticker): an agent should look.
        with transaction.atomic():
            _clear(burst, ai_skipped="no_content")
            if any(m.is_media for m in burst):
                from conversations.services.attention import REASON_AI_UNREADABLE, conversation_flag_attention

                conversation_flag_attention(conversation_id=conversation_id, reason=REASON_AI_UNREADABLE)
        return TurnResult("skipped")
    context = ConversationContext(
        history=_history(conversation_id, before=burst[0]),
        ad_headline=_ad_headline(conversation, burst),
        image_descriptions=tuple(image.description for image in images),
        image_sources=tuple(image.source for image in images),
    )
    answer = answer_question(question, context=context, conversation=conversation)
    return _deliver(conversation_id, burst=burst, answer=answer, language=guess_language(question))


def _deliver(conversation_id: int, *, burst: list[Message], answer: Answer, language: str) -> TurnResult:
    from catalog_ai.models import AISettings
    from conversations import events
    from conversations.models import Conversation, Message
    from conversations.providers.base import OutboundMessage, OutboundValidationError
    from conversations.services.outbound import message_queue_outbound
    from conversations.services.serialize import message_event_data

    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update().select_related("contact", "channel").get(pk=conversation_id)
        )
        fresh = [
            m for m in Message.objects.filter(pk__in=[m.pk for m in burst]).order_by("created_at", "id")
            if m.awaiting_ai
        ]  # fmt: skip
        if not fresh:
            return TurnResult("nothing", answer=answer)  # another run answered them meanwhile
        if not _in_ai(conversation, AISettings.load()):
            _clear(fresh, ai_skipped="left_ai")
            return TurnResult("skipped", answer=answer)
        sent: list[Message] = []
        outbound = [OutboundMessage(kind="text", to="", text=answer.answer)]
        for ref in [] if answer.is_fallback else answer.images:
            # A path under MEDIA_ROOT: uploaded to the provider (or linked when published, in link mode).
            source = {"media_link": ref.image} if "://" in ref.image else {"media_path": ref.image}
            caption = f"Page {ref.page}" if language == "en" else f"Página {ref.page}"
            outbound.append(OutboundMessage(kind="image", to="", caption=caption, **source))
        for item in outbound:
            try:
                sent.append(message_queue_outbound(conversation=conversation, outbound=item))
            except OutboundValidationError as exc:
                logger.warning("AI reply to conversation %s cannot be sent: %s", conversation_id, exc)
        for message in sent:
            # "origin" makes consoles label it an AI answer; they hear of it once this commits.
            message.data = {**message.data, "origin": "ai", "ai_log": answer.log_id, "ai_backend": answer.backend}
            message.save(update_fields=["data", "updated_at"])
            events.broadcast_on_commit(
                groups=events.groups_for(conversation), name=events.MESSAGE_UPDATED, data=message_event_data(message)
            )
        _clear(fresh, ai_answered=True, ai_log=answer.log_id)
        if answer.is_fallback and not conversation.needs_attention:
            from conversations.services.attention import REASON_AI_NO_ANSWER, conversation_flag_attention

            conversation_flag_attention(conversation_id=conversation_id, reason=REASON_AI_NO_ANSWER)
    return TurnResult("answered", answer=answer)


def ai_turns_sweep(*, older_than: float | None = None) -> int:
    """Re-enqueue the AI turn of conversations whose messages wait well past their window (a lost task).

    Returns how many conversations were enqueued. Safe to run any time: a turn that is not
    due yet waits, and one already answered does nothing.
    """
    from catalog_ai.models import AISettings
    from conversations.models import ConversationStatus, Message

    if not AISettings.load().enabled:
        return 0
    if older_than is None:
        older_than = float(getattr(settings, "AI_BUFFER_IMAGE_SECONDS", 20)) + 60
    now = timezone.now()
    ids = set(
        Message.objects.filter(
            direction="in",
            awaiting_ai=True,
            created_at__lt=now - timedelta(seconds=older_than),
            created_at__gte=now - timedelta(seconds=max(int(getattr(settings, "SESSION_TIMEOUT", 0) or 0), 3600)),
            conversation__status=ConversationStatus.AI,
        ).values_list("conversation_id", flat=True)
    )
    for conversation_id in ids:
        _enqueue(conversation_id, 0)
    return len(ids)
