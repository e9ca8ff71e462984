"""Celery tasks of the analytics app."""

from __future__ import annotations

from celery import shared_task

from analytics.services.export_jobs import message_export_run
from analytics.services.rollup import PASS_REST, rollup_catch_up
from whatsapp_ia.locks import conversation_lock


@shared_task(name="analytics.tasks.message_export_task", acks_late=True)
def message_export_task(export_id: int) -> str:
    """Write a date-range export queued by analytics.services.export_jobs.message_export_start."""
    export = message_export_run(export_id=export_id)
    return export.status if export is not None else "missing"


@shared_task(name="analytics.tasks.dashboard_rollup_task")
def dashboard_rollup_task() -> dict[str, int]:
    """Count the new messages into the dashboard's summary tables (periodic: ANALYTICS_ROLLUP_INTERVAL). A pass
    still running (a long backlog) keeps going; the next one is skipped instead of counting the same ids."""
    with conversation_lock("analytics-rollup", 0) as held:
        if not held:
            return {"skipped": 1}
        report = rollup_catch_up(rest=PASS_REST)
    return {"messages": report.messages, "high_id": report.high_id, "first_responses": report.first_responses}
