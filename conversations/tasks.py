"""Celery tasks: each loads ids and calls one service; retries live here."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task

from conversations.services.ingest import deliveries_drain, delivery_process
from conversations.services.media import message_media_refetch
from conversations.services.outbound import conversation_flush_outbound, flush_schedule, flush_started
from conversations.services.processing import conversation_process
from conversations.services.retention import deliveries_purge
from conversations.services.sweeper import media_refetch_due, sweep_stuck

logger = logging.getLogger(__name__)


@shared_task(name="conversations.tasks.delivery_process_task", acks_late=True)
def delivery_process_task(delivery_id: int, attempt: int = 0) -> str:
    return delivery_process(delivery_id=delivery_id, attempt=attempt).state


@shared_task(name="conversations.tasks.deliveries_drain_task", bind=True, acks_late=True)
def deliveries_drain_task(self, lane: int) -> None:
    if deliveries_drain(lane=lane):
        self.apply_async((lane,), countdown=0.05)


@shared_task(name="conversations.tasks.conversation_process_task", bind=True, acks_late=True)
def conversation_process_task(self, conversation_id: int) -> None:
    if conversation_process(conversation_id=conversation_id):
        self.apply_async((conversation_id,), countdown=0.5)


@shared_task(name="conversations.tasks.conversation_flush_outbound_task", bind=True, acks_late=True)
def conversation_flush_outbound_task(self, conversation_id: int) -> dict:
    flush_started(conversation_id=conversation_id)
    result = conversation_flush_outbound(conversation_id=conversation_id)
    if result.retry_in is not None:
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


@shared_task(name="conversations.tasks.message_media_refetch_task", acks_late=True)
def message_media_refetch_task(message_id: int) -> str:
    return message_media_refetch(message_id=message_id)


@shared_task(name="conversations.tasks.deliveries_purge_task")
def deliveries_purge_task() -> dict:
    report = deliveries_purge()
    if report.parsed or report.rejected:
        logger.info("Deleted expired webhook deliveries: %s", report)
    return asdict(report)
