from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.middleware.csrf import get_token
from django.shortcuts import resolve_url
from django.templatetags.static import static
from django.utils.translation import get_language
from django.views.generic import TemplateView

from accounts.models import Role
from conversations.console_strings import console_catalog
from conversations.models import Channel
from conversations.models.conversations import ConversationStatus
from conversations.services.attention import attention_reason_catalog
from conversations.services.enrichment_types import REASONS as ENRICHMENT_REASONS


def console_channels() -> list[dict[str, Any]]:
    """The channels an agent can filter by (the simulator's aside), when there is more than one."""
    channels = [
        {"id": c.pk, "name": c.name, "provider": c.provider}
        for c in Channel.objects.exclude(provider="simulator").only("name", "provider").order_by("name")
    ]
    return channels if len(channels) > 1 else []


class HomeView(LoginRequiredMixin, TemplateView):
    """The live agent console: a single page over the REST API (/api/) and the websocket (/ws/console/)."""

    template_name = "console/console.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        roles = [{"id": r.id, "name": r.name} for r in Role.objects.order_by("name")]
        sees_every_role = user.is_superuser or user.has_perm("conversations.view_all_conversations")
        own_role_ids = set(user.roles.values_list("id", flat=True))
        context["filter_roles"] = roles if sees_every_role else [r for r in roles if r["id"] in own_role_ids]
        context["statuses"] = ConversationStatus.choices
        context["filter_channels"] = console_channels()
        context["may_take_unrouted"] = sees_every_role or user.has_perm("conversations.take_unrouted_conversations")
        context["console_strings"] = console_catalog()
        context["console_config"] = {
            "user": {"id": user.id, "name": user.get_full_name() or user.get_username(), "isStaff": user.is_staff},
            "language": get_language() or settings.LANGUAGE_CODE,
            "timeZone": settings.TIME_ZONE,
            "csrfToken": get_token(self.request),
            "loginUrl": resolve_url(settings.LOGIN_URL),
            "roles": roles,
            "attentionReasons": attention_reason_catalog(),
            # Why a voice note or an image has no text, by reason code (live events reach every language).
            "enrichmentReasons": {code: str(label) for code, label in ENRICHMENT_REASONS.items()},
            "icons": static("console/icons.svg"),
            # Checked again by the API (and the file's content by type): this only spares a useless upload.
            "uploadLimits": {kind: int(mb * 1024 * 1024) for kind, mb in settings.CONSOLE_UPLOAD_MAX_MB.items()},
            "urls": {
                "conversations": "/api/conversations/",
                "quickReplies": "/api/quick-replies/",
                "templates": "/api/templates/",
                "templatesSync": "/api/templates/sync/",
                "me": "/api/me/",
                "websocket": "/ws/console/",
            },
        }
        return context
