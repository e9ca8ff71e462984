"""The dashboard page (/tablero/): a grid of cards that draw /api/metrics/ with Chart.js."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from accounts.models import Role
from analytics.services.filters import MAX_DAYS, default_range
from analytics.services.metrics import METRICS, WORDS_SCAN_LIMIT
from conversations.models import Channel
from conversations.selectors import TEST_CHANNEL_PROVIDERS
from conversations.visibility import user_sees_all

CHART_VERSION = "4.6.2"  # static/vendor/chartjs-<version>/


def dashboard_strings() -> dict[str, str]:
    """What the page's script says, in the page's language."""
    return {
        "loading": _("Loading…"),
        "empty": _("No data for this range."),
        "error": _("This chart could not be loaded."),
        "csv": _("CSV"),
        "downloadCsv": _("Download the rows as CSV"),
        "inbound": _("Inbound"),
        "outbound": _("Outbound"),
        "messages": _("Messages"),
        "answers": _("Answers"),
        "fallbacks": _("Fell back"),
        "cached": _("From the cache"),
        "count": _("Count"),
        "responses": _("Responses"),
        "closings": _("Closings"),
        "conversations": _("Conversations"),
        "replies": _("Replies"),
        "voice_notes": _("Voice notes"),
        "hour": _("Hour"),
        "wordsLimited": _("Only the most recent %(limit)s texts were read.") % {"limit": f"{WORDS_SCAN_LIMIT:,}"},
        "badFilters": _("Check the filters:"),
    }


class DashboardView(LoginRequiredMixin, TemplateView):
    template_name = "analytics/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        roles = Role.objects.order_by("name")
        if not user_sees_all(user):
            roles = roles.filter(pk__in=user.roles.values("pk"))
        start, end = default_range()
        context.update(
            {
                "metrics": list(METRICS.values()),
                "channels": Channel.objects.exclude(provider__in=TEST_CHANNEL_PROVIDERS).order_by("name"),
                "roles": roles,
                "start": start,
                "end": end,
                "max_days": MAX_DAYS,
                "time_zone": settings.TIME_ZONE,
                "chart_js": f"vendor/chartjs-{CHART_VERSION}/chart.umd.min.js",
                "dashboard_config": {
                    "language": get_language() or settings.LANGUAGE_CODE,
                    "timeZone": settings.TIME_ZONE,
                    "api": "/api/metrics/",
                    "strings": dashboard_strings(),
                    "metrics": {
                        m.name: {"chart": m.chart.as_dict(), "figures": [f.as_dict() for f in m.figures]}
                        for m in METRICS.values()
                    },
                },
            }
        )
        return context
