"""Rules imports that run in the background: a workbook too big for the web request becomes a RuleImport row,
and a Celery task (flows.tasks.rule_import_task) runs flows.excel.rules_import on it, all or nothing as ever.

- rule_import_needs_background(size=): more rows than RULES_IMPORT_BACKGROUND_ROWS.
- rule_import_start(data=, file_name=, user=, dry_run=, checked=): store the file, enqueue the task on commit.
- rule_import_confirm(check=, user=): the real import of a check (dry run) that found no errors.
- rule_imports_sweep(now=): what the beat schedule runs: imports whose task was lost are queued again.
- rule_import_run(import_id=): what the task does; the result (counts, errors by row and column, warnings)
  is saved on the row. Progress goes to the cache while it runs (the import is one transaction, so a row
  updated from inside it would not be seen): rule_import_progress(job=) -> (rows_done, rows_total).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from flows.excel import WorkbookSize, rules_import
from flows.models import RuleImport, RuleImportStatus

logger = logging.getLogger(__name__)

_PROGRESS_TTL = 24 * 3600


def _progress_key(import_id: int) -> str:
    return f"flows:rule_import:{import_id}:progress"


def rule_import_needs_background(*, size: WorkbookSize) -> bool:
    """True when the import should not run inside the web request."""
    threshold = int(getattr(settings, "RULES_IMPORT_BACKGROUND_ROWS", 300) or 0)
    return threshold > 0 and size.rows - 1 > threshold


def rule_import_start(
    *, data: bytes, file_name: str, user: Any = None, dry_run: bool = True, checked: RuleImport | None = None
) -> RuleImport:
    """Store the workbook and queue its import (a check when dry_run) once the transaction commits."""
    from flows.tasks import rule_import_task

    job = RuleImport.objects.create(
        file_name=(file_name or "rules.xlsx")[:255],
        data=data,
        dry_run=dry_run,
        checked=checked,
        created_by=user if getattr(user, "pk", None) else None,
    )
    job_id = job.pk
    transaction.on_commit(lambda: rule_import_task.delay(job_id), robust=True)
    return job


def rule_import_confirm(*, check: RuleImport, user: Any = None) -> RuleImport | None:
    """Queue the real import of a finished check without errors; None when there is nothing to confirm."""
    if not check.dry_run or check.status != RuleImportStatus.DONE or check.errors:
        return None
    return rule_import_start(data=bytes(check.data), file_name=check.file_name, user=user, dry_run=False, checked=check)


def rule_import_run(*, import_id: int) -> RuleImport | None:
    """Run one background import; its result is saved on the row. A finished one is not run again."""
    started = timezone.now()
    # Claimed in one conditional UPDATE: a task delivered twice (the sweeper's and the broker's) runs once.
    claimed = RuleImport.objects.filter(pk=import_id, status=RuleImportStatus.QUEUED).update(
        status=RuleImportStatus.RUNNING, started_at=started
    )
    job = RuleImport.objects.filter(pk=import_id).first()
    if job is None or not claimed:
        return job  # finished, or another worker runs it (if that worker died, the sweeper queues it again)
    key = _progress_key(job.pk)
    step = [1]

    def progress(done: int, total: int) -> None:
        if done == 1 or done == total or done % step[0] == 0:
            step[0] = max(total // 100, 1)
            cache.set(key, (done, total), _PROGRESS_TTL)

    try:
        report = rules_import(file=bytes(job.data), dry_run=job.dry_run, progress=progress)
    except Exception as exc:  # a bug, not bad input (that is in report.errors): keep it visible on the job
        logger.exception("Rules import %s failed", job.pk)
        job.status = RuleImportStatus.FAILED
        job.errors = [
            {"row": None, "column": "", "message": _("Unexpected error: %(error)s") % {"error": repr(exc)[:300]}}
        ]
    else:
        job.status = RuleImportStatus.DONE
        job.created, job.updated, job.unchanged = report.created, report.updated, report.unchanged
        job.errors = [{"row": e.row, "column": e.column, "message": e.message} for e in report.errors]
        job.warnings = list(report.warnings)
    _done, total = cache.get(key) or (0, 0)
    job.rows_total = total
    job.finished_at = timezone.now()
    job.save(
        update_fields=["status", "created", "updated", "unchanged", "errors", "warnings", "rows_total", "finished_at"]
    )
    logger.info("Rules import %s: %s, %d errors", job.pk, job.status, len(job.errors))
    return job


def rule_imports_sweep(*, now: datetime | None = None) -> list[int]:
    """Queue again the imports whose task was lost; returns their ids.

    Queued for longer than SWEEP_INBOUND_AFTER (the broker lost the message), or running for longer
    than the task's hard time limit plus a minute (its worker died: the import is one transaction,
    so nothing of it was saved). The conditional claim in rule_import_run keeps a late original
    task and the sweeper's from both running it.
    """
    from flows.tasks import rule_import_task

    now = now or timezone.now()
    dead_after = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    RuleImport.objects.filter(status=RuleImportStatus.RUNNING, started_at__lt=now - dead_after).update(
        status=RuleImportStatus.QUEUED
    )
    lost_after = timedelta(seconds=settings.SWEEP_INBOUND_AFTER)
    ids = list(
        RuleImport.objects.filter(status=RuleImportStatus.QUEUED, created_at__lt=now - lost_after)
        .order_by("created_at")
        .values_list("pk", flat=True)[:100]
    )
    for import_id in ids:
        rule_import_task.delay(import_id)
    if ids:
        logger.info("Rules imports queued again (task lost or worker died): %s", ids)
    return ids


def rule_import_progress(*, job: RuleImport) -> tuple[int, int]:
    """(rows done, rows total) of a running import; (total, total) once it is done."""
    if job.status in (RuleImportStatus.DONE, RuleImportStatus.FAILED):
        return job.rows_total, job.rows_total
    done, total = cache.get(_progress_key(job.pk)) or (0, 0)
    return done, total
