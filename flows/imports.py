"""Rules imports that run in the background: a workbook too big for the web request becomes a RuleImport row,
and a Celery task (flows.tasks.rule_import_task) runs flows.excel.rules_import on it, all or nothing as ever.

- rule_import_needs_background(size=): more rows than RULES_IMPORT_BACKGROUND_ROWS.
- rule_import_start(data=, file_name=, user=, dry_run=, checked=): store the file, enqueue the task on commit.
- rule_import_confirm(check=, user=): the real import of a check (dry run) that found no errors.
- rule_import_run(import_id=): what the task does; the result (counts, errors by row and column, warnings)
  is saved on the row. Progress goes to the cache while it runs (the import is one transaction, so a row
  updated from inside it would not be seen): rule_import_progress(job=) -> (rows_done, rows_total).
"""

from __future__ import annotations

import logging
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
    job = RuleImport.objects.filter(pk=import_id).first()
    if job is None or job.status in (RuleImportStatus.DONE, RuleImportStatus.FAILED):
        return job
    job.status = RuleImportStatus.RUNNING
    job.started_at = timezone.now()
    job.save(update_fields=["status", "started_at"])
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


def rule_import_progress(*, job: RuleImport) -> tuple[int, int]:
    """(rows done, rows total) of a running import; (total, total) once it is done."""
    if job.status in (RuleImportStatus.DONE, RuleImportStatus.FAILED):
        return job.rows_total, job.rows_total
    done, total = cache.get(_progress_key(job.pk)) or (0, 0)
    return done, total
