from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from catalog_ai.forms import CatalogAddForm, CatalogChangeForm
from catalog_ai.ingestion import (
    EMBEDDING,
    STAGE_INDEX,
    catalog_delete,
    catalog_is_stalled,
    catalog_reset,
    catalog_set_active,
    index_rebuild_on_commit,
    stage_label,
)
from catalog_ai.models import AILog, AISettings, Catalog, CatalogChunk, CatalogPage, CatalogStatus


@admin.register(Catalog)
class CatalogAdmin(admin.ModelAdmin):
    """Upload on the add page; progress, status and summary while and after the ingestion runs."""

    change_list_template = "admin/catalog_ai/catalog/change_list.html"
    list_display = ("name", "status_badge", "progress", "summary_short", "active", "created_at")
    list_filter = ("status", "active")
    search_fields = ("name", "sha256")
    actions = ["reingest", "resume", "reset", "activate", "deactivate"]
    change_readonly_fields = (
        "status_badge",
        "progress",
        "error",
        "summary_display",
        "pdf_link",
        "pages_link",
        "sha256",
        "created_at",
        "updated_at",
    )

    # forms -------------------------------------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = CatalogChangeForm if obj is not None else CatalogAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "pdf"]})]
        return [
            (None, {"fields": ["name", "active", "replace_pdf"]}),
            (_("Processing"), {"fields": ["status_badge", "progress", "error", "summary_display"]}),
            (_("File"), {"fields": ["pdf_link", "pages_link", "sha256", "created_at", "updated_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.change_readonly_fields if obj is not None else ()

    def save_model(self, request, obj, form, change):
        from catalog_ai.tasks import catalog_ingest_enqueue

        if not change:  # the add form stored the catalog while validating the upload
            if getattr(form, "created", False):
                catalog_ingest_enqueue(obj)
                self.message_user(request, _("The catalog is queued for processing; its progress shows in the list."))
            return
        super().save_model(request, obj, form, change)
        if getattr(form, "replaced", False):
            catalog_ingest_enqueue(obj)
            self.message_user(request, _("The new PDF is queued for processing; the old pages stay until it is done."))
        elif "active" in form.changed_data:
            index_rebuild_on_commit()

    def delete_model(self, request, obj):
        catalog_delete(catalog=obj)

    def delete_queryset(self, request, queryset):
        for catalog in queryset:
            catalog_delete(catalog=catalog, rebuild_index=False)
        index_rebuild_on_commit()

    # list ----------------------------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        recent = timezone.now() - timedelta(minutes=10)
        busy = Catalog.objects.filter(
            Q(status=CatalogStatus.PROCESSING)
            | Q(status=CatalogStatus.PENDING, updated_at__gte=recent)
            | Q(status=CatalogStatus.READY, stage=STAGE_INDEX, updated_at__gte=recent)  # embedding its chunks
        ).exists()  # a stalled "processing" one too: the list shows it stalled, then the sweep marks it
        extra_context = {**(extra_context or {}), "catalogs_busy": busy, "refresh_seconds": 3}
        return super().changelist_view(request, extra_context=extra_context)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: Catalog) -> str:
        if catalog_is_stalled(catalog=obj):  # also before the sweep marks it
            return format_html(
                '<span class="catalog-status catalog-status-stalled" title="{}" style="color:#fff;background:#b45309;'
                'padding:2px 8px;border-radius:9px;white-space:nowrap">{}</span>',
                obj.error or _("No sign of life from its worker: resume or reset it."),
                CatalogStatus.STALLED.label,
            )
        colour = {
            CatalogStatus.PENDING: "#6b7280",
            CatalogStatus.PROCESSING: "#2563eb",
            CatalogStatus.READY: "#15803d",
            CatalogStatus.FAILED: "#b91c1c",
        }.get(obj.status, "#6b7280")
        return format_html(
            '<span class="catalog-status catalog-status-{}" title="{}" style="color:#fff;background:{};'
            'padding:2px 8px;border-radius:9px;white-space:nowrap">{}</span>',
            obj.status,
            obj.error,
            colour,
            obj.get_status_display(),
        )

    @admin.display(description=_("progress"))
    def progress(self, obj: Catalog) -> str:
        total, done = obj.pages_total, min(obj.pages_done, obj.pages_total)
        if obj.status == CatalogStatus.PENDING:
            return format_html('<span class="catalog-progress">{}</span>', _("queued"))
        if obj.status == CatalogStatus.READY:
            label = _("%(done)d/%(total)d pages") % {"done": total, "total": total}
        else:
            label = _("%(done)d/%(total)d pages") % {"done": done, "total": total}
        # A ready catalog is still at the index stage while its new chunks are embedded (ingestion marks it
        # ready first, so the rebuild includes it): that stage shows too, and then the bar follows the embedding.
        if obj.stage and (obj.status != CatalogStatus.READY or obj.stage == STAGE_INDEX):
            label = f"{label} · {stage_label(obj.stage)}"
        value, maximum = (total if obj.status == CatalogStatus.READY else done), max(total, 1)
        detail = ""
        embedding = (obj.summary or {}).get(EMBEDDING) if obj.stage == STAGE_INDEX else None
        if isinstance(embedding, dict) and embedding.get("total"):
            value, maximum = min(int(embedding.get("done") or 0), int(embedding["total"])), int(embedding["total"])
            detail = _("%(done)d/%(total)d new chunks embedded") % {"done": value, "total": maximum}
        title = f"{label}: {detail}" if detail else label
        if total == 0 and obj.status == CatalogStatus.PROCESSING:
            bar = format_html('<progress max="1" title="{}"></progress>', title)  # indeterminate
        else:
            bar = format_html('<progress value="{}" max="{}" title="{}"></progress>', value, maximum, title)
        if detail:
            return format_html(
                '<span class="catalog-progress">{} {}<br><small class="catalog-progress-detail">{}</small></span>',
                bar,
                label,
                detail,
            )
        return format_html('<span class="catalog-progress">{} {}</span>', bar, label)

    @admin.display(description=_("summary"))
    def summary_short(self, obj: Catalog) -> str:
        from catalog_ai.admin_views import catalog_summary_text

        return catalog_summary_text(obj)

    @admin.display(description=_("summary"))
    def summary_display(self, obj: Catalog) -> str:
        summary = obj.summary or {}
        if not summary:
            return "—"
        labels = [
            ("pages", _("Pages")),
            ("pages_done", _("Pages done")),
            ("chunks", _("Chunks")),
            ("ocr_pages", _("Pages read with OCR")),
            ("no_text_pages", _("Pages without text")),
            ("no_text_page_numbers", _("Which pages have no text")),
            ("scaled_page_numbers", _("Pages read at a lower resolution")),
            ("resumed_from_page", _("Resumed at page")),
            ("skus", _("SKUs")),
            ("sku_examples", _("SKU examples")),
            ("seconds", _("Time (s)")),
            ("backends", _("Text extraction")),
            ("ocr_engines", _("OCR engines")),
            ("index", _("Index")),
            ("index_seconds", _("Index time (s)")),
            ("index_info", _("Index details")),
            ("images", _("Page images")),
            ("failed_stage", _("Failed at step")),
            ("error", _("Error")),
            ("notes", _("Notes")),
        ]
        rows = []
        for key, label in labels:
            if key not in summary or summary[key] in ("", None, [], {}):
                continue
            value = summary[key]
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in value.items())
            elif isinstance(value, list):
                value = "; ".join(str(v) for v in value) if key == "notes" else ", ".join(str(v) for v in value)
            elif key == "failed_stage":
                value = stage_label(str(value))
            rows.append((label, value))
        return format_html(
            '<table class="catalog-summary">{}</table>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description=_("PDF file"))
    def pdf_link(self, obj: Catalog) -> str:
        if not obj.file:
            return "—"
        url = reverse("admin:catalog_ai_catalog_pdf", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.file.name)

    def get_urls(self):
        from django.urls import path

        pdf = path("<int:catalog_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="catalog_ai_catalog_pdf")
        return [pdf, *super().get_urls()]

    def pdf_view(self, request, catalog_id: int):
        """The catalog's PDF for staff who may view catalogs (MEDIA_ROOT is not public), as a download."""
        from django.core.exceptions import PermissionDenied
        from django.http import FileResponse, Http404

        if not self.has_view_permission(request):
            raise PermissionDenied
        catalog = Catalog.objects.filter(pk=catalog_id).first()
        if catalog is None or not catalog.file:
            raise Http404
        try:
            handle = catalog.file.open("rb")
        except OSError:
            raise Http404 from None
        response = FileResponse(handle, as_attachment=True, content_type="application/pdf")
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox"
        return response

    @admin.display(description=_("pages"))
    def pages_link(self, obj: Catalog) -> str:
        url = reverse("admin:catalog_ai_catalogpage_changelist") + f"?catalog__id__exact={obj.pk}"
        pages = obj.pages.count()
        chunks = obj.chunks.count()
        return format_html(
            '<a href="{}">{}</a>',
            url,
            _("%(pages)d pages, %(chunks)d chunks") % {"pages": pages, "chunks": chunks},
        )

    # actions -------------------------------------------------------------------------------------------

    @admin.action(description=_("Re-ingest selected catalogs"), permissions=["change"])
    def reingest(self, request, queryset):
        from catalog_ai.tasks import catalog_ingest_enqueue

        queued = busy = 0
        for catalog in queryset:
            if catalog.status == CatalogStatus.PROCESSING and not catalog_is_stalled(catalog=catalog):
                busy += 1
                continue
            catalog_ingest_enqueue(catalog)
            queued += 1
        if queued:
            self.message_user(request, _("%d catalogs queued for processing.") % queued)
        if busy:
            self.message_user(
                request,
                _("%d catalogs are being processed right now; try again when they finish.") % busy,
                level=messages.WARNING,
            )

    @admin.action(description=_("Resume the stalled or failed ingestion of selected catalogs"), permissions=["change"])
    def resume(self, request, queryset):
        from catalog_ai.tasks import catalog_ingest_enqueue

        queued = skipped = 0
        for catalog in queryset:
            if catalog_is_stalled(catalog=catalog) or catalog.status == CatalogStatus.FAILED:
                catalog_ingest_enqueue(catalog, resume=True)
                queued += 1
            else:
                skipped += 1
        if queued:
            self.message_user(request, _("%d catalogs queued to resume after the pages already done.") % queued)
        if skipped:
            self.message_user(
                request,
                _("%d catalogs were not stalled or failed; nothing to resume.") % skipped,
                level=messages.WARNING,
            )

    @admin.action(description=_("Reset the stalled or failed ingestion of selected catalogs"), permissions=["change"])
    def reset(self, request, queryset):
        done = sum(catalog_reset(catalog=catalog) for catalog in queryset)
        if done:
            self.message_user(request, _("%d catalogs reset: re-ingest them or upload a new file.") % done)
        if done < len(queryset):
            self.message_user(
                request,
                _("%d catalogs were not stalled or failed; they were left as they are.") % (len(queryset) - done),
                level=messages.WARNING,
            )

    @admin.action(description=_("Activate selected catalogs (the AI uses them)"), permissions=["change"])
    def activate(self, request, queryset):
        self.message_user(request, _("%d catalogs activated.") % catalog_set_active(catalogs=queryset, active=True))

    @admin.action(description=_("Deactivate selected catalogs (the AI ignores them)"), permissions=["change"])
    def deactivate(self, request, queryset):
        changed = catalog_set_active(catalogs=queryset, active=False)
        self.message_user(request, _("%d catalogs deactivated.") % changed)


@admin.register(CatalogPage)
class CatalogPageAdmin(admin.ModelAdmin):
    list_display = ("catalog", "number", "backend", "needs_ocr", "no_text")
    list_filter = ("catalog", "backend", "needs_ocr", "no_text")
    search_fields = ("text",)


@admin.register(CatalogChunk)
class CatalogChunkAdmin(admin.ModelAdmin):
    list_display = ("catalog", "page", "position", "skus", "backend")
    list_filter = ("catalog",)
    search_fields = ("text",)
    list_select_related = ("catalog", "page")


@admin.register(AISettings)
class AISettingsAdmin(admin.ModelAdmin):
    """A singleton: its list (and its change page) is the "AI settings" page (catalog_ai/admin_views.py)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        from catalog_ai.admin_views import ai_settings_view

        context = {**self.admin_site.each_context(request), **(extra_context or {})}
        return ai_settings_view(request, context=context, opts=self.model._meta, admin=self)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return self.changelist_view(request, extra_context=extra_context)  # the same single page


@admin.register(AILog)
class AILogAdmin(admin.ModelAdmin):
    """Every AI answer, read-only."""

    list_display = ("created_at", "question_short", "answer_short", "backend", "cached", "latency_ms", "pages")
    list_filter = (
        "backend",
        "cached",
        ("created_at", admin.DateFieldListFilter),
        ("conversation", admin.EmptyFieldListFilter),
    )
    search_fields = ("question", "answer")
    date_hierarchy = "created_at"
    list_select_related = ("conversation",)
    readonly_fields = [f.name for f in AILog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("question"), ordering="question")
    def question_short(self, obj: AILog) -> str:
        return obj.question[:80]

    @admin.display(description=_("answer"))
    def answer_short(self, obj: AILog) -> str:
        return obj.answer[:80]

    @admin.display(description=_("references"))
    def pages(self, obj: AILog) -> str:
        refs = obj.references if isinstance(obj.references, list) else []
        return ", ".join(
            f"p.{r.get('page')}" + (f" {r['sku']}" if r.get("sku") else "") for r in refs[:5] if isinstance(r, dict)
        )
