from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import XLSX
from import_export.forms import SelectableFieldsExportForm

from flows.admin_diagram import flow_diagram_view
from flows.admin_import import RuleImportForm, rule_import_job_view
from flows.admin_simulator import simulator_view
from flows.excel import RuleResource
from flows.forms import RuleAdminForm, current_flow_warnings, rule_save_warnings
from flows.imports import rule_import_needs_background, rule_import_start
from flows.models import GlobalCommand, QuickReply, QuickReplyMedia, Rule, RuleImport, RuleMedia
from flows.roles import role_created_message, rule_roles_ensure
from flows.rules_cache import rules_version_bump


def rule_column_label(resource: type[RuleResource], field_name: str) -> str:
    """A spreadsheet column in the reader's language with its Excel header, as the import/export pages list it."""
    field = resource.fields.get(field_name)
    column = field.column_name if field else field_name
    try:
        label = Rule._meta.get_field(field.attribute if field and field.attribute else field_name).verbose_name
    except FieldDoesNotExist:
        label = _("media URLs") if field_name == "media_urls" else field_name
    return f"{capfirst(label)} ({column})"


class RuleExportForm(SelectableFieldsExportForm):
    """The export page names each column in the reader's language, with its Excel header: "Paso (step)"."""

    def _get_field_label(self, resource, field_name: str) -> str:
        return rule_column_label(resource, field_name)


class RuleMediaInline(admin.TabularInline):
    model = RuleMedia
    extra = 0


@admin.register(Rule)
class RuleAdmin(ImportExportModelAdmin):
    form = RuleAdminForm
    resource_classes = [RuleResource]
    formats = [XLSX]
    import_template_name = "admin/flows/rule/import.html"
    import_form_class = RuleImportForm  # workbook_check before anything parses the file
    export_form_class = RuleExportForm
    change_list_template = "admin/flows/rule/change_list.html"
    list_display = ("step", "input_text", "priority", "response_type", "next_step", "role_keyword", "active")
    list_display_links = ("input_text",)
    list_filter = ("active", "response_type", "match_image_description", "step")
    list_editable = ("priority", "active")
    search_fields = ("step", "input_text", "response_text", "next_step")
    ordering = ("step", "priority", "id")
    inlines = [RuleMediaInline]
    actions = ["activate", "deactivate"]

    def save_related(self, request, form, formsets, change):
        # After the inline media are saved, so media checks see them.
        super().save_related(request, form, formsets, change)
        for role in rule_roles_ensure(role_keyword=form.instance.role_keyword):
            self.message_user(request, role_created_message(role), level=messages.WARNING)
        for warning in rule_save_warnings(form.instance):
            self.message_user(request, warning, level=messages.WARNING)

    def changelist_view(self, request, extra_context=None):
        # Flow-wide warnings (dangling, unreachable steps) on a plain visit; after a save only that rule's.
        if request.method == "GET" and IS_POPUP_VAR not in request.GET and not len(messages.get_messages(request)):
            for warning in current_flow_warnings(limit=5):
                self.message_user(request, warning, level=messages.WARNING)
        return super().changelist_view(request, extra_context)

    def has_import_permission(self, request: HttpRequest) -> bool:
        # An import adds and updates rules (and their media): both permissions, never view alone.
        return self.has_add_permission(request) and self.has_change_permission(request)

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path("diagram/", self.admin_site.admin_view(self.diagram), name="flows_rule_diagram"),
            path("simulator/", self.admin_site.admin_view(self.simulator), name="flows_rule_simulator"),
            path("import/job/<int:pk>/", self.admin_site.admin_view(self.import_job), name="flows_rule_import_job"),
        ]
        return extra + super().get_urls()

    def import_action(self, request, **kwargs):
        """A workbook with more rows than RULES_IMPORT_BACKGROUND_ROWS is checked in a task, not in the request."""
        if request.method == "POST" and self.has_import_permission(request):
            form = self.create_import_form(request)
            if form.is_valid() and rule_import_needs_background(size=form.workbook_size):
                job = rule_import_start(
                    data=form.workbook_data,
                    file_name=form.cleaned_data["import_file"].name,
                    user=request.user,
                    dry_run=True,
                )
                return HttpResponseRedirect(reverse("admin:flows_rule_import_job", args=[job.pk]))
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None)
        if context and "fields_list" in context:  # the columns in the reader's language (rendered lazily)
            by_column = {field.column_name: name for name, field in RuleResource.fields.items()}
            context["fields_list"] = [
                (label, [rule_column_label(RuleResource, by_column.get(column, column)) for column in columns])
                for label, columns in context["fields_list"]
            ]
        return response

    def import_job(self, request: HttpRequest, pk: int) -> HttpResponse:
        context = self.admin_site.each_context(request)
        return rule_import_job_view(request, pk=pk, context=context, opts=self.model._meta, admin=self)

    def diagram(self, request: HttpRequest) -> HttpResponse:
        return flow_diagram_view(request, context=self.admin_site.each_context(request), opts=self.model._meta)

    def simulator(self, request: HttpRequest) -> HttpResponse:
        return simulator_view(request, context=self.admin_site.each_context(request), opts=self.model._meta)

    @admin.action(description=_("Activate selected rules"), permissions=["change"])
    def activate(self, request, queryset):
        count = queryset.update(active=True)  # a bulk update sends no signal
        rules_version_bump()
        self.message_user(request, _("%d rules activated.") % count)

    @admin.action(description=_("Deactivate selected rules"), permissions=["change"])
    def deactivate(self, request, queryset):
        count = queryset.update(active=False)
        rules_version_bump()
        self.message_user(request, _("%d rules deactivated.") % count)


class QuickReplyMediaInline(admin.TabularInline):
    model = QuickReplyMedia
    extra = 0


@admin.register(QuickReply)
class QuickReplyAdmin(admin.ModelAdmin):
    list_display = ("title", "order", "active")
    list_editable = ("order", "active")
    list_filter = ("active", "roles")
    search_fields = ("title", "text")
    filter_horizontal = ("roles",)
    inlines = [QuickReplyMediaInline]


@admin.register(GlobalCommand)
class GlobalCommandAdmin(admin.ModelAdmin):
    list_display = ("keywords", "handler", "description", "priority", "active")
    list_editable = ("priority", "active")
    list_filter = ("active", "handler")
    search_fields = ("keywords", "description")


@admin.register(RuleImport)
class RuleImportAdmin(admin.ModelAdmin):
    """The background rules imports (read-only); each links to its progress/result page."""

    list_display = ("file_name", "dry_run", "status", "created", "updated", "unchanged", "created_by", "created_at")
    list_filter = ("status", "dry_run")
    exclude = ("data",)
    readonly_fields = ("result_link",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("result"))
    def result_link(self, obj: RuleImport) -> str:
        url = reverse("admin:flows_rule_import_job", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.file_name)
