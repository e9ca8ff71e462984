"""The rules import in the admin, around django-import-export's two steps (flows/admin.py's RuleAdmin).

- RuleImportForm: the upload form; its file is measured by flows.excel.workbook_check before anything parses
  it, so a workbook over the limits is a form error naming the limit.
- A workbook with more rows than RULES_IMPORT_BACKGROUND_ROWS is not read in the request: it becomes a
  background check (flows.imports), and the browser goes to rule_import_job_view, which reloads itself while
  the task runs (progress bar), then shows the result as the two-step import does (counts, warnings, errors by
  row and column) with "Confirm import" for a check without errors, which queues the real import.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from import_export.forms import ImportForm

from flows.excel import InvalidWorkbook, RowError, import_limit, workbook_check
from flows.imports import rule_import_confirm, rule_import_progress
from flows.models import RuleImport, RuleImportStatus

TEMPLATE = "admin/flows/rule/import_job.html"
REFRESH_SECONDS = 2


class RuleImportForm(ImportForm):
    """ImportForm whose file must pass workbook_check; keeps the bytes and the measure for the admin."""

    workbook_data: bytes = b""
    workbook_size: Any = None

    def clean_import_file(self) -> Any:
        upload = self.cleaned_data["import_file"]
        limit = import_limit("RULES_IMPORT_MAX_FILE_BYTES", 10 * 1024 * 1024)
        upload.seek(0)
        data = upload.read(limit + 1) if limit else upload.read()
        upload.seek(0)
        try:
            self.workbook_size = workbook_check(data)
        except InvalidWorkbook as exc:
            raise forms.ValidationError(str(exc)) from exc
        self.workbook_data = data
        return upload


def _job_context(job: RuleImport) -> dict[str, Any]:
    done, total = rule_import_progress(job=job)
    finished = job.status in (RuleImportStatus.DONE, RuleImportStatus.FAILED)
    return {
        "job": job,
        "finished": finished,
        "rows_done": done,
        "rows_total": total,
        "errors": [str(RowError(e.get("row"), e.get("column", ""), e.get("message", ""))) for e in job.errors],
        "can_confirm": job.dry_run and job.status == RuleImportStatus.DONE and not job.errors,
        "refresh_seconds": REFRESH_SECONDS,
    }


def rule_import_job_view(
    request: HttpRequest, *, pk: int, context: dict[str, Any], opts: Any, admin: Any
) -> HttpResponse:
    """GET: the import's progress or result (?format=json for scripts); POST: confirm a clean check."""
    if not admin.has_import_permission(request):
        raise PermissionDenied
    job = get_object_or_404(RuleImport, pk=pk)
    if request.method == "POST":
        confirmed = rule_import_confirm(check=job, user=request.user)
        if confirmed is None:
            return HttpResponseRedirect(request.path)
        return HttpResponseRedirect(reverse("admin:flows_rule_import_job", args=[confirmed.pk]))
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST"])
    page = _job_context(job)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "status": job.status,
                "dry_run": job.dry_run,
                "rows_done": page["rows_done"],
                "rows_total": page["rows_total"],
                "created": job.created,
                "updated": job.updated,
                "unchanged": job.unchanged,
                "errors": page["errors"],
                "warnings": job.warnings,
            }
        )
    return TemplateResponse(
        request,
        TEMPLATE,
        {**context, **page, "opts": opts, "title": _("Import") + f": {job.file_name}"},
    )
