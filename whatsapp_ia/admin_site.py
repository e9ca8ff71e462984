"""The admin organised around what a business does, not around Django apps.

Django groups the admin index by app (accounts, conversations, flows, ...). A business owner thinks in
sections: the bot, the conversations, the AI catalog, the team, the settings, and (rarely) maintenance.
``SECTIONS`` is that table: each section lists model labels ("app.Model") and links to custom admin
pages (the flow diagram, the simulator), in the order they are shown. ``WhatsAppAdminSite`` uses it for
the index, the sidebar and one page per section (/admin/section/<slug>/); any registered model the table
does not name lands in Maintenance, so a model added later is never hidden.

Only labels and URL names appear here (no model imports): the project package stays below the apps.
The per-app pages (/admin/flows/, ...) keep Django's behaviour, so every existing admin URL still works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axes.apps import AppConfig as AxesAppConfig
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Link:
    """A custom admin page shown in a section like a model (no "add" link)."""

    url_name: str
    name: str | Promise
    permission: str  # "app.codename" the user needs to see the link
    key: str  # CSS/id-friendly name


@dataclass(frozen=True)
class Section:
    slug: str
    name: str | Promise
    description: str | Promise
    entries: tuple[str | Link, ...]


MAINTENANCE = "maintenance"

SECTIONS: tuple[Section, ...] = (
    Section(
        "bot",
        _("Bot"),
        _("What the bot answers: rules, their diagram, the simulator, quick replies and commands."),
        (
            "flows.Rule",
            Link("admin:flows_rule_diagram", _("Flow diagram"), "flows.view_rule", "flowdiagram"),
            Link("admin:flows_rule_simulator", _("Simulator"), "flows.view_rule", "simulator"),
            "flows.QuickReply",
            "flows.GlobalCommand",
            "flows.RuleImport",
        ),
    ),
    Section(
        "conversations",
        _("Conversations"),
        _("Customers, their chats and every message."),
        (
            "conversations.Conversation",
            "conversations.Contact",
            "conversations.Message",
            "accounts.ChatRole",
            "conversations.MessageTemplate",
            "analytics.MessageExport",
        ),
    ),
    Section(
        "ai-catalog",
        _("AI catalog"),
        _("The PDF catalogs the AI answers from, and every answer it gave."),
        ("catalog_ai.Catalog", "catalog_ai.CatalogPage", "catalog_ai.AILog"),
    ),
    Section(
        "team",
        _("Team"),
        _("Who works here and which chats each one serves."),
        ("accounts.User", "accounts.Role", "auth.Group", "authtoken.TokenProxy", "authtoken.Token"),
    ),
    Section(
        "settings",
        _("Settings"),
        _("WhatsApp numbers and inboxes, and how the AI answers."),
        ("conversations.Channel", "catalog_ai.AISettings"),
    ),
    Section(
        MAINTENANCE,
        _("Maintenance"),
        _("Internals for troubleshooting: login attempts, raw webhook deliveries, search index fragments."),
        (
            "conversations.WebhookDelivery",
            "axes.AccessAttempt",
            "axes.AccessFailureLog",
            "axes.AccessLog",
            "catalog_ai.CatalogChunk",
        ),
    ),
)
SECTIONS_BY_SLUG = {section.slug: section for section in SECTIONS}


def _model_label(model_dict: dict[str, Any]) -> str:
    return model_dict["model"]._meta.label


class WhatsAppAdminSite(admin.AdminSite):
    site_header = _("WhatsApp IA")
    site_title = _("WhatsApp IA")
    index_title = _("Administration")
    site_url = None  # the header links to the console instead (templates/admin/base_site.html)
    enable_nav_sidebar = True

    def get_urls(self) -> list[URLPattern]:
        section = path("section/<slug:slug>/", self.admin_view(self.section_view), name="section")
        return [section, *super().get_urls()]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        if app_label is not None:  # /admin/<app>/: Django's own per-app page
            return super().get_app_list(request, app_label)
        return self.get_sections(request)

    def get_sections(self, request: HttpRequest) -> list[dict[str, Any]]:
        """The sections the user may see, each with its models and links in the table's order."""
        models: dict[str, dict[str, Any]] = {}
        for app in self._build_app_dict(request).values():
            for model_dict in app["models"]:
                models[_model_label(model_dict)] = model_dict
        named = {entry for section in SECTIONS for entry in section.entries if isinstance(entry, str)}
        leftovers = sorted((label for label in models if label not in named), key=lambda label: models[label]["name"])
        sections = []
        for section in SECTIONS:
            rows = []
            for entry in section.entries:
                row = self._link_row(request, entry) if isinstance(entry, Link) else models.get(entry)
                if row is not None:
                    rows.append(row)
            if section.slug == MAINTENANCE:
                rows += [models[label] for label in leftovers]
            if rows:
                sections.append(
                    {
                        "name": section.name,
                        "description": section.description,
                        "app_label": f"section-{section.slug}",
                        "slug": section.slug,
                        "app_url": reverse("admin:section", kwargs={"slug": section.slug}, current_app=self.name),
                        "has_module_perms": True,
                        "models": rows,
                    }
                )
        return sections

    def _link_row(self, request: HttpRequest, link: Link) -> dict[str, Any] | None:
        if not request.user.has_perm(link.permission):
            return None
        try:
            url = reverse(link.url_name, current_app=self.name)
        except NoReverseMatch:  # the page's app is not installed
            return None
        return {
            "name": link.name,
            "object_name": link.key,
            "admin_url": url,
            "add_url": None,
            "view_only": True,
            "is_page": True,
            "perms": {"view": True},
        }

    def section_view(self, request: HttpRequest, slug: str) -> TemplateResponse:
        sections = [section for section in self.get_sections(request) if section["slug"] == slug]
        if not sections:
            raise Http404(_("This admin section does not exist."))
        context = {
            **self.each_context(request),
            "title": sections[0]["name"],
            "subtitle": None,
            "app_list": sections,
            "section": sections[0],
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/section_index.html", context)


class WhatsAppAdminConfig(AdminConfig):
    """Replaces "django.contrib.admin" in INSTALLED_APPS so ``admin.site`` is the business-shaped site."""

    default_site = "whatsapp_ia.admin_site.WhatsAppAdminSite"


class LoginSecurityConfig(AxesAppConfig):
    """django-axes under a name a business understands (its own is the untranslated "Axes")."""

    verbose_name = _("Login security")
