"""Celery tasks: each loads ids and calls one service; retries live here."""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from typing import Any

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_process_init
from django.conf import settings

from conversations.services.enrichment import message_enrich
from conversations.services.errors import is_transient_error, retry_delay
from conversations.services.ingest import deliveries_drain, delivery_retry
from conversations.services.media import message_media_refetch
from conversations.services.outbound import conversation_flush_outbound, flush_schedule, flush_started
from conversations.services.processing import conversation_process
from conversations.services.retention import deliveries_purge
from conversations.services.search_index import PASS_BATCH, PASS_REST, search_index_catch_up
from conversations.services.sweeper import media_refetch_due, sweep_stuck
from whatsapp_ia.locks import conversation_lock, lock_busy_backoff

logger = logging.getLogger(__name__)

#: Whether this worker consumes the transcription queue (set before its pool forks; its processes inherit it).
_transcribes = False


@celeryd_after_setup.connect
def _note_the_transcription_queue(instance: Any, **_: Any) -> None:
    global _transcribes
    _transcribes = settings.TRANSCRIPTION_QUEUE in instance.app.amqp.queues.consume_from


@worker_process_init.connect
def _preload_the_speech_model(**_: Any) -> threading.Thread | None:
    """A worker of the transcription queue loads the Vosk model as it starts (in the background, at idle
    priority: a pool process that does not report alive within seconds is replaced), not at the first voice
    note, which would otherwise wait for the load beside the texts of a busy minute."""
    if _transcribes:
        from conversations.services.transcription import vosk_model_preload

        thread = threading.Thread(target=vosk_model_preload, name="vosk-preload", daemon=True)
        thread.start()
        return thread
    return None


@shared_task(name="conversations.tasks.delivery_process_task", acks_late=True)
def delivery_process_task(delivery_id: int, attempt: int = 0) -> str:
    delivery = delivery_retry(delivery_id=delivery_id, attempt=attempt)
    return delivery.state if delivery is not None else "unrecorded"


@shared_task(name="conversations.tasks.deliveries_drain_task", bind=True, acks_late=True)
def deliveries_drain_task(self, lane: int) -> None:
    try:
        again = deliveries_drain(lane=lane)
    except Exception as exc:  # the lane's own reads and counts: each delivery's failure is recorded on it
        _retry_if_transient(self, exc)
        raise
    if again:
        self.apply_async((lane,), countdown=0.05)


@shared_task(name="conversations.tasks.conversation_process_task", bind=True, acks_late=True)
def conversation_process_task(self, conversation_id: int, busy: int = 0) -> None:
    try:
        result = conversation_process(conversation_id=conversation_id)
    except Exception as exc:  # the loop's own reads: the messages' failures are recorded on them
        _retry_if_transient(self, exc)
        raise
    if result.busy:  # another worker holds the conversation: back off, do not spin
        self.apply_async((conversation_id, busy + 1), countdown=lock_busy_backoff(busy))
    elif result.retry_in is not None:
        self.apply_async((conversation_id,), countdown=max(result.retry_in, 0.05))


def _retry_if_transient(task, exc: BaseException) -> None:
    """Run the task again later (bounded, with backoff) when what failed was transient."""
    if is_transient_error(exc):
        retries = task.request.retries or 0
        raise task.retry(exc=exc, countdown=retry_delay(retries + 1), max_retries=settings.PIPELINE_MAX_ATTEMPTS)


@shared_task(
    name="conversations.tasks.message_enrich_task",
    acks_late=True,
    soft_time_limit=settings.TRANSCRIPTION_TIMEOUT_SEC + 30,
    time_limit=settings.TRANSCRIPTION_TIMEOUT_SEC + 60,
)
def message_enrich_task(message_id: int) -> str:
    """Transcribe or describe one message, on the step's own queue (apply_async(queue=...))."""
    return message_enrich(message_id=message_id)


@shared_task(name="conversations.tasks.conversation_flush_outbound_task", bind=True, acks_late=True)
def conversation_flush_outbound_task(self, conversation_id: int, busy: int = 0) -> dict:
    flush_started(conversation_id=conversation_id)
    result = conversation_flush_outbound(conversation_id=conversation_id)
    if result.busy:  # another worker holds the conversation: back off, do not spin
        flush_schedule(conversation_id=conversation_id, countdown=lock_busy_backoff(busy), busy=busy + 1)
    elif result.retry_in is not None:
        flush_schedule(conversation_id=conversation_id, countdown=max(result.retry_in, 0.05))
    return asdict(result)


@shared_task(name="conversations.tasks.sweep_stuck_task")
def sweep_stuck_task() -> dict:
    report = sweep_stuck()
    if any(asdict(report).values()):
        logger.info("Sweeper re-enqueued %s", report)
    media = media_refetch_due()
    if media:
        logger.info("Sweeper re-enqueued %s media downloads", media)
    return {**asdict(report), "media_refetches": media}


@shared_task(name="conversations.tasks.search_index_task")
def search_index_task() -> int:
    """Copy the new messages' texts under the console's full-text index (MySQL/MariaDB), in short statements
    with rests between them (the pipeline shares the database). A pass still running (a backlog, e.g. after
    an upgrade) keeps going; the next one is skipped instead of copying the same ids."""
    with conversation_lock("search-index", 0) as held:
        if not held:
            return 0
        return search_index_catch_up(batch=PASS_BATCH, max_batches=1_000, rest=PASS_REST)


@shared_task(name="conversations.tasks.message_media_refetch_task", acks_late=True)
def message_media_refetch_task(message_id: int) -> str:
    return message_media_refetch(message_id=message_id)


@shared_task(name="conversations.tasks.deliveries_purge_task")
def deliveries_purge_task() -> dict:
    report = deliveries_purge()
    if report.parsed or report.rejected:
        logger.info("Deleted expired webhook deliveries: %s", report)
    return asdict(report)
