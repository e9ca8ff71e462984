"""Every admin page a superuser can open, and the text a reader sees on a page (for the translation checks)."""

from __future__ import annotations

from html.parser import HTMLParser

from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from whatsapp_ia.admin_site import SECTIONS

CUSTOM_PAGES = (
    "admin:flows_rule_diagram",
    "admin:flows_rule_simulator",
    "admin:flows_rule_import",
    "admin:flows_rule_export",
    "admin:password_change",
)


def admin_page_urls(user) -> list[str]:
    """The index, each section, each app page, each model's list/add/change page and the custom pages."""
    request = type("Request", (), {"user": user})()
    urls = [reverse("admin:index")]
    urls += [reverse("admin:section", kwargs={"slug": section.slug}) for section in SECTIONS]
    labels = sorted({model._meta.app_label for model in admin.site._registry})
    urls += [reverse("admin:app_list", kwargs={"app_label": label}) for label in labels]
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{name}_changelist"))
        if model_admin.has_add_permission(request):
            urls.append(reverse(f"{name}_add"))
        obj = model.objects.order_by("pk").first()
        if obj is not None:
            urls.append(reverse(f"{name}_change", args=[obj.pk]))
    for name in CUSTOM_PAGES:
        try:
            urls.append(reverse(name))
        except NoReverseMatch:  # pragma: no cover - an app not installed
            continue
    return urls


class _TextParser(HTMLParser):
    ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
    # Not prose: scripts, styles, and code/pre (identifiers, Excel headers, raw payloads shown as data).
    HIDDEN = ("script", "style", "template", "textarea", "code", "pre")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        values = dict(attrs)
        for key in self.ATTRIBUTES:
            if values.get(key):
                self.texts.append(" ".join(values[key].split()))
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.texts.append(values["value"].strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(" ".join(data.split()))


def visible_texts(html: str) -> list[str]:
    """Prose a reader sees or hears: text nodes and title, placeholder, aria-label, alt and button values."""
    parser = _TextParser()
    parser.feed(html)
    return parser.texts
