"""Admin for WhatsApp message templates: the synced list, and the "Sync message templates" action on channels.

Kept apart from conversations/admin.py; that module adds the action to the channel admin.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from conversations.models import Channel, MessageTemplate
from conversations.providers.base import ProviderError
from conversations.services.templates import templates_sync


@admin.action(description=_("Sync message templates from WhatsApp"), permissions=["change"])
def channels_sync_templates(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
    for channel in queryset:
        try:
            result = templates_sync(channel=channel)
        except ProviderError as exc:
            modeladmin.message_user(
                request,
                _("%(channel)s: the provider refused the template list: %(reason)s")
                % {"channel": channel.name, "reason": exc},
                messages.ERROR,
            )
            continue
        modeladmin.message_user(
            request,
            _("%(channel)s: %(created)d new, %(updated)d updated, %(removed)d removed templates.")
            % {
                "channel": channel.name,
                "created": result.created,
                "updated": result.updated,
                "removed": result.removed,
            },
            messages.SUCCESS,
        )


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "language", "category", "status", "channel", "variable_count", "synced_at")
    list_filter = ("status", "category", "channel")
    search_fields = ("name",)
    readonly_fields = [f.name for f in MessageTemplate._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # templates are made in WhatsApp Manager and synced here

    def has_change_permission(self, request: HttpRequest, obj: MessageTemplate | None = None) -> bool:
        return False

    @admin.display(description=_("variables"))
    def variable_count(self, obj: MessageTemplate) -> int:
        return len(obj.variables or [])
