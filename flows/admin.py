from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import XLSX

from flows.admin_diagram import flow_diagram_view
from flows.admin_simulator import simulator_view
from flows.excel import RuleResource
from flows.forms import RuleAdminForm, current_flow_warnings, rule_save_warnings
from flows.models import GlobalCommand, QuickReply, QuickReplyMedia, Rule, RuleMedia
from flows.roles import role_created_message, rule_roles_ensure


class RuleMediaInline(admin.TabularInline):
    model = RuleMedia
    extra = 0


@admin.register(Rule)
class RuleAdmin(ImportExportModelAdmin):
    form = RuleAdminForm
    resource_classes = [RuleResource]
    formats = [XLSX]
    import_template_name = "admin/flows/rule/import.html"
    change_list_template = "admin/flows/rule/change_list.html"
    list_display = ("step", "input_text", "priority", "response_type", "next_step", "role_keyword", "active")
    list_display_links = ("input_text",)
    list_filter = ("active", "response_type", "step")
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

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path("diagram/", self.admin_site.admin_view(self.diagram), name="flows_rule_diagram"),
            path("simulator/", self.admin_site.admin_view(self.simulator), name="flows_rule_simulator"),
        ]
        return extra + super().get_urls()

    def diagram(self, request: HttpRequest) -> HttpResponse:
        return flow_diagram_view(request, context=self.admin_site.each_context(request), opts=self.model._meta)

    def simulator(self, request: HttpRequest) -> HttpResponse:
        return simulator_view(request, context=self.admin_site.each_context(request), opts=self.model._meta)

    @admin.action(description=_("Activate selected rules"))
    def activate(self, request, queryset):
        self.message_user(request, _("%d rules activated.") % queryset.update(active=True))

    @admin.action(description=_("Deactivate selected rules"))
    def deactivate(self, request, queryset):
        self.message_user(request, _("%d rules deactivated.") % queryset.update(active=False))


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
