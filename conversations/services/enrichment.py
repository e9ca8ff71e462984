"""Voice notes transcribed and images described, before the bots read them.

The pipeline (``processing.message_process``) asks :func:`enrichment_wait` about each inbound
message once its media is downloaded. For a kind some registered step reads (audio →
transcription, image → description; ``bots.enrichment_register``), the first time:

- the step is off in the settings, has no backend or model, or the file was not downloaded: the
  message is marked at once (skipped / unavailable / failed, with a reason code) and goes on to
  the bots, which give the flow's fallback; the chat is flagged for agents;
- otherwise the message is marked ``queued`` and :func:`message_enrich` is enqueued on the
  step's own Celery queue; the conversation waits (order holds) and the pipeline moves on to
  other conversations: a long audio never delays another customer's text.

:func:`message_enrich` (the task) runs the step's backend, stores the text (``transcription`` or
``image_description``) with the state, tells the consoles, and starts the conversation's
processing again: the text enters the bots exactly once, as a typed message would. It is
idempotent: only a message still ``queued`` is worked on, the result is stored by a conditional
update (a second run, or a run the sweeper started again, changes nothing), and one run at a time
holds the message's lock. A transient failure (a provider's 5xx, a timeout) is tried again with
backoff up to ENRICHMENT_MAX_ATTEMPTS; a message queued for longer than a run may take is queued
again by the pipeline (the sweeper re-enqueues its conversation), so a lost task loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists
from django.utils import timezone

from conversations import events
from conversations.models import EnrichmentSettings, EnrichmentState, MediaState, Message, ProcessingState
from conversations.services.bots import Enrichment, enrichment_for
from conversations.services.enrichment_types import (
    Availability,
    EnrichmentError,
    EnrichmentFailed,
    EnrichmentResult,
    EnrichmentSkipped,
    EnrichmentTransient,
    EnrichmentUnavailable,
)
from conversations.services.errors import retry_delay
from conversations.services.serialize import message_event_data
from whatsapp_ia.locks import conversation_lock

logger = logging.getLogger(__name__)

#: States after which the bots read the message (done, or given up for a recorded reason).
FINAL_STATES = frozenset({EnrichmentState.DONE, EnrichmentState.FAILED, EnrichmentState.SKIPPED,
                          EnrichmentState.UNAVAILABLE})  # fmt: skip


def _stale_after() -> timedelta:
    """A message queued longer than this has lost its task (a worker died, the broker lost it)."""
    return timedelta(seconds=settings.TRANSCRIPTION_TIMEOUT_SEC + 120)


def enrichment_wait(*, message: Message, now: datetime | None = None) -> bool:
    """Must the bots wait for this message's transcription or description? (Called by the pipeline.)

    Enqueues the step's task the first time, or again when the one queued is lost. False: go on.
    """
    step = enrichment_for(message.kind)
    if step is None or message.direction != "in":
        return False
    state = message.enrichment_state
    if state in FINAL_STATES:
        return False
    now = now or timezone.now()
    if state == EnrichmentState.QUEUED:
        queued_at = _details(message).get("queued_at")
        if queued_at and now - datetime.fromisoformat(queued_at) < _stale_after():
            return True
        logger.warning("Enrichment of message %s was queued at %s and not done: queued again", message.pk, queued_at)
        _enqueue(message, step, now=now)
        return True
    refusal = _refusal(message, step)
    if refusal is not None:
        _store_outcome(message, step, error=refusal, now=now)
        return False
    _enqueue(message, step, now=now)
    return True


def _refusal(message: Message, step: Enrichment) -> EnrichmentError | None:
    """Why the step can't run on this message at all (checked before queuing anything)."""
    if not step.enabled():
        return EnrichmentSkipped("disabled")
    if message.media_state != MediaState.STORED or not message.media_file:
        return EnrichmentFailed("no_media", message.media_error)
    availability = step.availability()
    if not availability.available:
        return EnrichmentUnavailable(availability.reason or "no_backend", availability.detail)
    return None


def _details(message: Message) -> dict:
    details = message.data.get("enrichment") if isinstance(message.data, dict) else None
    return details if isinstance(details, dict) else {}


def _enqueue(message: Message, step: Enrichment, *, now: datetime, countdown: float = 0) -> None:
    details = {**_details(message), "step": step.name, "queued_at": now.isoformat()}
    message.data = {**message.data, "enrichment": details}
    message.enrichment_state = EnrichmentState.QUEUED
    message.enrichment_reason = ""
    from conversations.tasks import message_enrich_task

    message_id, queue = message.pk, step.queue
    with transaction.atomic():  # the task and the consoles hear of it once the state is committed
        message.save(update_fields=["data", "enrichment_state", "enrichment_reason", "updated_at"])
        _broadcast(message)
        transaction.on_commit(
            lambda: message_enrich_task.apply_async((message_id,), queue=queue, countdown=countdown), robust=True
        )


def message_enrich(*, message_id: int, clock: Callable[[], float] = time.monotonic, now: datetime | None = None) -> str:
    """Transcribe or describe one queued message (the task's body); returns what became of it."""
    message = Message.objects.select_related("conversation__channel", "conversation__contact").filter(pk=message_id)
    message = message.first()
    if message is None:
        return "missing"
    if message.enrichment_state != EnrichmentState.QUEUED:
        return f"already {message.enrichment_state or 'not needed'}"
    step = enrichment_for(message.kind)
    if step is None:
        return "no step"
    # One run per message at a time (a duplicate task, or one queued again): the lock is renewed while held.
    with conversation_lock("enrich", message_id) as held:
        if not held:
            return "running elsewhere"
        started = clock()
        try:
            result = step.enrich(message=message, path=Path(message.media_file.path))
        except EnrichmentTransient as exc:
            return _transient(message, step, exc, now=now)
        except EnrichmentError as exc:
            stored = _store_outcome(message, step, error=exc, now=now)
        except Exception as exc:  # a bug or an unforeseen file: recorded on the message, never lost
            logger.exception("Enrichment %s of message %s failed", step.name, message_id)
            stored = _store_outcome(message, step, error=EnrichmentFailed("error", repr(exc)), now=now)
        else:
            stored = _store_outcome(message, step, result=result, elapsed=clock() - started, now=now)
    if stored:
        _process_again(message.conversation_id)
        return message.enrichment_state
    return "stored elsewhere"


def _transient(message: Message, step: Enrichment, exc: EnrichmentTransient, *, now: datetime | None) -> str:
    details = _details(message)
    attempts = int(details.get("attempts") or 0) + 1
    if attempts >= settings.ENRICHMENT_MAX_ATTEMPTS:
        failed = EnrichmentFailed(exc.reason, f"gave up after {attempts} attempts: {exc.detail}")
        if _store_outcome(message, step, error=failed, now=now, attempts=attempts):
            _process_again(message.conversation_id)
        return message.enrichment_state
    delay = retry_delay(attempts)
    logger.warning("Enrichment of message %s: %s; trying again in %.0f s", message.pk, exc, delay)
    message.data = {**message.data, "enrichment": {**details, "attempts": attempts, "detail": str(exc)[:500]}}
    Message.objects.filter(pk=message.pk, enrichment_state=EnrichmentState.QUEUED).update(
        data=message.data, updated_at=timezone.now()
    )
    from conversations.tasks import message_enrich_task

    message_enrich_task.apply_async((message.pk,), queue=step.queue, countdown=delay)
    return "retry"


def _store_outcome(
    message: Message,
    step: Enrichment,
    *,
    result: EnrichmentResult | None = None,
    error: EnrichmentError | None = None,
    elapsed: float | None = None,
    now: datetime | None = None,
    attempts: int | None = None,
) -> bool:
    """Store the text or the reason, once: False when another run stored it first."""
    now = now or timezone.now()
    details = {key: value for key, value in _details(message).items() if key != "detail"}
    details.update(step=step.name, finished_at=now.isoformat())
    if attempts is not None:
        details["attempts"] = attempts
    fields: dict[str, object] = {}
    if result is not None:
        details.update(source=result.source, backend=result.backend, elapsed_ms=result.elapsed_ms)
        if result.duration_ms is not None:
            details["duration_ms"] = result.duration_ms
        fields[step.field] = result.text
        state, reason = EnrichmentState.DONE, ""
    else:
        assert error is not None
        details["detail"] = error.detail[:500]
        state, reason = error.state, error.reason
        if state == EnrichmentState.QUEUED:  # a transient error given up on
            state = EnrichmentState.FAILED
    data = {**message.data, "enrichment": details}
    with transaction.atomic():
        claimed = Message.objects.filter(pk=message.pk, processing_state=ProcessingState.PENDING).exclude(
            enrichment_state__in=FINAL_STATES
        )
        if not claimed.update(
            enrichment_state=state, enrichment_reason=reason[:40], data=data, updated_at=now, **fields
        ):
            return False
        message.enrichment_state, message.enrichment_reason, message.data = state, reason[:40], data
        for name, value in fields.items():
            setattr(message, name, value)
        if state != EnrichmentState.DONE:
            _flag(message, step, reason)
        elif step.field == "transcription" and result is not None and result.text.strip():
            _preview_transcription(message, result.text)
        _broadcast(message)
    if elapsed is not None:
        logger.info("Message %s: %s by %s in %.2f s", message.pk, step.name, details.get("backend"), elapsed)
    return True


def _preview_transcription(message: Message, text: str) -> None:
    """The chat list shows what a voice note says while it is the chat's latest message (not "[audio]")."""
    from conversations.models import Conversation
    from conversations.services.serialize import conversation_event_data

    newer = Message.objects.filter(conversation_id=message.conversation_id, pk__gt=message.pk)
    preview = f"🎤 {' '.join(text.split())}"[:200]
    if (
        not Conversation.objects.filter(pk=message.conversation_id)
        .exclude(Exists(newer))
        .update(last_message_preview=preview)
    ):
        return
    conversation = Conversation.objects.select_related("contact", "channel").get(pk=message.conversation_id)
    events.broadcast_on_commit(
        groups=events.groups_for(conversation),
        name=events.CONVERSATION_UPDATED,
        data=conversation_event_data(conversation),
    )


def _flag(message: Message, step: Enrichment, reason: str) -> None:
    """Agents should listen to the audio or look at the image themselves (the message says why)."""
    if reason == "disabled":
        return
    from conversations.services import attention

    text = attention.REASON_VOICE_UNREADABLE if step.field == "transcription" else attention.REASON_IMAGE_UNREADABLE
    attention.conversation_flag_attention(conversation_id=message.conversation_id, reason=text)


def _broadcast(message: Message) -> None:
    events.broadcast_on_commit(
        groups=events.groups_for(message.conversation), name=events.MESSAGE_UPDATED, data=message_event_data(message)
    )


def _process_again(conversation_id: int) -> None:
    """The bots may read the message now: the conversation's processing goes on (order holds)."""
    from conversations.tasks import conversation_process_task

    transaction.on_commit(lambda: conversation_process_task.delay(conversation_id), robust=True)


def enrichment_availability() -> dict[str, Availability]:
    """Each registered step's availability now (for the admin and the console), by step name."""
    from conversations.services.bots import enrichments

    return {step.name: step.availability() for step in enrichments()}


def enrichment_settings_enabled(field: str) -> Callable[[], bool]:
    """A step's on/off switch: the settings' ``field`` (transcription_enabled, description_enabled)."""

    def enabled() -> bool:
        return bool(getattr(EnrichmentSettings.load(), field))

    return enabled


# The steps conversations registers (ConversationsConfig.ready): the backends are imported on use, so a
# web process never loads Vosk or Tesseract.


def _transcribe(*, message: Message, path: Path) -> EnrichmentResult:
    from conversations.services.transcription import transcribe_file

    return transcribe_file(path)


def _transcription_availability() -> Availability:
    from conversations.services.transcription import transcription_availability

    return transcription_availability()


def _describe(*, message: Message, path: Path) -> EnrichmentResult:
    from conversations.services.vision import image_describe

    return image_describe(path, mime=message.media_mime, prompt=EnrichmentSettings.load().effective_vision_prompt)


def _vision_availability() -> Availability:
    from conversations.services.vision import vision_availability

    return vision_availability()


def enrichment_steps_register() -> None:
    """Voice notes → transcription (its own queue), images → description (OpenAI vision or Tesseract OCR)."""
    from conversations.services.bots import enrichment_register

    enrichment_register(
        "transcription",
        _transcribe,
        10,
        kinds=["audio"],
        field="transcription",
        queue=settings.TRANSCRIPTION_QUEUE,
        availability=_transcription_availability,
        enabled=enrichment_settings_enabled("transcription_enabled"),
    )
    enrichment_register(
        "description",
        _describe,
        20,
        kinds=["image"],
        field="image_description",
        queue=settings.VISION_QUEUE,
        availability=_vision_availability,
        enabled=enrichment_settings_enabled("description_enabled"),
    )
