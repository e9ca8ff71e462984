"""Celery tasks of the AI catalog. Catalog ingestion first; other tasks may follow below."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction

from catalog_ai.ingestion import catalog_ingest, catalog_is_stalled, catalog_release_lock, catalog_stall_sweep
from catalog_ai.models import Catalog, CatalogStatus


@shared_task(
    name="catalog_ai.tasks.catalog_ingest_task",
    acks_late=True,
    # OCR takes ~1.5 s a page: longer than the default limits of every other task.
    soft_time_limit=settings.LONG_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.LONG_TASK_TIME_LIMIT,
)
def catalog_ingest_task(catalog_id: int, resume: bool = False) -> dict[str, Any]:
    return catalog_ingest(catalog_id=catalog_id, resume=resume)


def catalog_ingest_enqueue(catalog: Catalog, *, resume: bool = False) -> None:
    """Mark the catalog pending and queue its ingestion once the current transaction commits.

    `resume`: keep the pages its last run finished. A stalled catalog's lock (left by its dead worker) is
    released first, so the new run is not turned away."""
    if catalog_is_stalled(catalog=catalog):
        catalog_release_lock(catalog_id=catalog.pk)
    catalog.status = CatalogStatus.PENDING
    catalog.stage = ""
    catalog.pages_done = 0
    catalog.error = ""
    catalog.save(update_fields=["status", "stage", "pages_done", "error", "updated_at"])
    catalog_id = catalog.pk
    if resume:
        transaction.on_commit(lambda: catalog_ingest_task.delay(catalog_id, resume=True), robust=True)
    else:
        transaction.on_commit(lambda: catalog_ingest_task.delay(catalog_id), robust=True)


@shared_task(name="catalog_ai.tasks.catalog_stall_sweep_task")
def catalog_stall_sweep_task() -> list[int]:
    """Periodic: mark catalogs whose ingestion died (no heartbeat for AI_CATALOG_STALL_SECONDS) as stalled."""
    return catalog_stall_sweep()


# --- The AI's turn in conversations (catalog_ai.responder) ---------------------------------------


@shared_task(name="catalog_ai.tasks.ai_respond_task", bind=True, acks_late=True)
def ai_respond_task(self: Any, conversation_id: int) -> str:
    """Answer the conversation's buffered burst once its window has passed; sleep again while it moves."""
    from catalog_ai.responder import ai_turn_run

    result = ai_turn_run(conversation_id=conversation_id)
    if result.retry_in is not None and self.request.is_eager:
        # CELERY_TASK_ALWAYS_EAGER ignores countdowns: wait here rather than recurse until the window ends.
        import time

        for _attempt in range(200):
            time.sleep(max(result.retry_in, 0.05))
            result = ai_turn_run(conversation_id=conversation_id)
            if result.retry_in is None:
                break
        return result.state
    if result.retry_in is not None:
        self.apply_async((conversation_id,), countdown=max(result.retry_in, 0.05))
    return result.state


@shared_task(name="catalog_ai.tasks.ai_turns_sweep_task")
def ai_turns_sweep_task() -> int:
    """Periodic: re-enqueue AI turns whose task was lost (messages awaiting the AI long past their window)."""
    from catalog_ai.responder import ai_turns_sweep

    return ai_turns_sweep()
