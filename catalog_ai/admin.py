from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from catalog_ai.models import AILog, AISettings, Catalog, CatalogChunk, CatalogPage


@admin.register(Catalog)
class CatalogAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "progress", "active", "created_at")
    list_filter = ("status", "active")
    search_fields = ("name", "sha256")
    readonly_fields = ("sha256", "status", "stage", "pages_total", "pages_done", "summary", "error", "created_at")

    @admin.display(description=_("progress"))
    def progress(self, obj: Catalog) -> str:
        return f"{obj.pages_done}/{obj.pages_total} {obj.stage}".strip()


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
    list_display = ("__str__", "enabled", "handoff_step", "gen_model", "embed_model")

    def has_add_permission(self, request) -> bool:
        return not AISettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AILog)
class AILogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "question", "backend", "cached", "latency_ms")
    list_filter = ("backend", "cached")
    search_fields = ("question", "answer")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AILog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
