"""Celery tasks of the flows app."""

from __future__ import annotations

from celery import shared_task

from flows.imports import rule_import_run, rule_imports_sweep


@shared_task(name="flows.tasks.rule_import_task", acks_late=True)
def rule_import_task(import_id: int) -> str:
    """Run a rules import queued by flows.imports.rule_import_start (all or nothing, result on the row)."""
    job = rule_import_run(import_id=import_id)
    return job.status if job is not None else "missing"


@shared_task(name="flows.tasks.rule_imports_sweep_task")
def rule_imports_sweep_task() -> list[int]:
    """Queue again the background imports whose task was lost (on the beat schedule)."""
    return rule_imports_sweep()
