"""Message exports in the admin: staff pick a date range (business time zone) and optionally a channel; a
Celery task writes the CSV (analytics.services.export_jobs) while the job's page shows its progress, then
a download link. The file is sent only here, to staff who may view exports (never from a public URL)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from analytics.models import MessageExport, MessageExportStatus
from analytics.services.export_jobs import (
    message_export_can_retry,
    message_export_delete,
    message_export_file,
    message_export_queue,
    message_export_retry,
    message_export_stalled,
)
from conversations.views_export import CSV_TYPE, file_export_response

POLL_SECONDS = 2


class MessageExportForm(forms.ModelForm):
    class Meta:
        model = MessageExport
        fields = ("date_from", "date_to", "channel")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_to < date_from:
            raise forms.ValidationError(_("The end date is before the start date."))
        return data


def _progress(export: MessageExport) -> dict[str, Any]:
    stalled = message_export_stalled(export=export)
    done = export.status == MessageExportStatus.DONE
    return {
        "status": export.status,
        "status_label": _("Stalled (its worker stopped)") if stalled else export.get_status_display(),
        "stalled": stalled,
        "finished": done or export.status == MessageExportStatus.FAILED,
        "rows_done": export.rows_done,
        "rows_total": export.rows_total,
        "file_size": export.file_size,
        "error": export.error,
        "download_url": reverse("admin:analytics_messageexport_download", args=[export.pk]) if done else None,
    }


@admin.action(description=gettext_lazy("Run the selected failed or stalled exports again"), permissions=["add"])
def message_exports_retry(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    queued = sum(message_export_retry(export=export) for export in queryset)
    modeladmin.message_user(
        request, ngettext("%(n)d export queued again.", "%(n)d exports queued again.", queued) % {"n": queued}
    )


@admin.register(MessageExport)
class MessageExportAdmin(admin.ModelAdmin):
    form = MessageExportForm
    list_display = ("__str__", "channel", "status_label", "progress", "download", "created_by", "created_at")
    list_filter = ("status", "channel")
    list_select_related = ("channel", "created_by")
    actions = [message_exports_retry]
    date_hierarchy = "created_at"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/progress/", view(self.progress_view), name="analytics_messageexport_progress"),
            path("<int:pk>/download/", view(self.download_view), name="analytics_messageexport_download"),
            *super().get_urls(),
        ]

    def has_change_permission(self, request: HttpRequest, obj: MessageExport | None = None) -> bool:
        return False  # a job is made by its form and changed only by its task

    @admin.display(description=gettext_lazy("status"))
    def status_label(self, obj: MessageExport) -> str:
        return _progress(obj)["status_label"]

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, obj: MessageExport) -> str:
        done, total = (number_format(n, force_grouping=True) for n in (obj.rows_done, obj.rows_total))
        return f"{done} / {total}"

    @admin.display(description=gettext_lazy("file"))
    def download(self, obj: MessageExport) -> str:
        if obj.status != MessageExportStatus.DONE:
            return "-"
        url = reverse("admin:analytics_messageexport_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download CSV"))

    def save_model(self, request: HttpRequest, obj: MessageExport, form: Any, change: bool) -> None:
        obj.created_by = request.user
        message_export_queue(export=obj)

    def response_add(self, request: HttpRequest, obj: MessageExport, post_url_continue: str | None = None) -> Any:
        return HttpResponseRedirect(reverse("admin:analytics_messageexport_change", args=[obj.pk]))

    def delete_model(self, request: HttpRequest, obj: MessageExport) -> None:
        message_export_delete(export=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for export in queryset:
            message_export_delete(export=export)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """The job's page: progress that updates itself, then the download link (or why it failed)."""
        export = self.get_object(request, object_id)
        if export is None or not self.has_view_permission(request, export):
            raise Http404
        if request.method == "POST" and self.has_add_permission(request):
            if message_export_retry(export=export):
                messages.success(request, _("The export was queued again."))
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": export,
            "export": export,
            "title": _("Message export") + f": {export}",
            "page": _progress(export),
            "progress_url": reverse("admin:analytics_messageexport_progress", args=[export.pk]),
            "poll_seconds": POLL_SECONDS,
            "time_zone": settings.TIME_ZONE,  # the business's days
            "can_retry": self.has_add_permission(request) and message_export_can_retry(export=export),
        }
        return TemplateResponse(request, "admin/analytics/messageexport/progress.html", context)

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        if not self.has_view_permission(request):
            raise Http404
        return JsonResponse(_progress(get_object_or_404(MessageExport, pk=pk)))

    def download_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise Http404
        export = get_object_or_404(MessageExport, pk=pk)
        file = message_export_file(export=export)
        if file is None:
            raise Http404
        name = f"messages-{export.date_from:%Y%m%d}-{export.date_to:%Y%m%d}.csv"
        return file_export_response(request, file.open("rb"), content_type=CSV_TYPE, filename=name)
