from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from flows.models import GlobalCommand, QuickReply, QuickReplyMedia, Rule, RuleMedia


class RuleMediaInline(admin.TabularInline):
    model = RuleMedia
    extra = 0


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ("step", "input_text", "priority", "response_type", "next_step", "role_keyword", "active")
    list_display_links = ("input_text",)
    list_filter = ("active", "response_type", "step")
    list_editable = ("priority", "active")
    search_fields = ("step", "input_text", "response_text", "next_step")
    ordering = ("step", "priority", "id")
    inlines = [RuleMediaInline]
    actions = ["activate", "deactivate"]

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
