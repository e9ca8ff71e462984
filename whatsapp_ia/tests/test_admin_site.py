"""The admin is organised by what a business does (whatsapp_ia/admin_site.py), in Spanish, in the business's time
zone, with the shared look and favicon; every page renders without English leftovers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.admin import permission_label
from accounts.models import User
from conversations.admin import delivery_error_text
from conversations.models import WebhookDelivery
from whatsapp_ia.admin_site import SECTIONS, WhatsAppAdminSite
from whatsapp_ia.demo import demo_load
from whatsapp_ia.tests.admin_pages import admin_page_urls, visible_texts

pytestmark = pytest.mark.django_db

SECTION_NAMES_ES = ["Bot", "Conversaciones", "Catálogo de IA", "Equipo", "Configuración", "Mantenimiento"]
SECTION_NAMES_EN = ["Bot", "Conversations", "AI catalog", "Team", "Settings", "Maintenance"]

# English that once leaked into the Spanish admin (or could: Django's and the libraries' own words).
# A visible text equal to one of these (ignoring case and a trailing colon) fails the page.
ENGLISH_WORDS = {
    "contact", "channel", "conversation", "role", "catalog", "page", "rule", "created at", "updated at",
    "assigned at", "started at", "finished at", "created by", "checked", "administration", "team", "maintenance",
    "settings", "advanced", "search", "home", "add", "save", "delete", "history", "filter", "log out",
    "view site", "change password", "select all", "step", "input text", "response text", "priority", "active",
    "access attempts", "access logs", "access failures", "axes", "attempt time", "ip address", "user agent",
    "logout time", "path", "locked out", "users", "groups", "channels", "messages", "contacts", "rules",
    "quick replies", "simulator", "flow diagram",
}  # fmt: skip
# Phrases that must not appear anywhere in a Spanish page's text.
ENGLISH_PHRASES = (
    "Missing or invalid signature", "Django administration", "Django site admin", "Site administration",
    "hours ahead of the server", "hours behind the server", "This exporter will export", "Can add ",
    "Can change ", "Can delete ", "Can view ", "Clean up expired attempts", "Models in the",
)  # fmt: skip
# A text identical in the Spanish and English page and containing one of these words was not translated.
ENGLISH_MARKERS = re.compile(r"\b(the|of|and|for|with|is|are|by|from|this|that|your|you|can|will|has|have)\b")


@pytest.fixture
def root(db: Any) -> User:
    demo_load(with_ai=False)
    user = User.objects.create_superuser(username="root", password="admin-pass-123")
    rejected = {"signature_ok": False, "state": "rejected", "error": "Missing or invalid signature"}
    WebhookDelivery.objects.create(provider="meta", body=b"{}", headers={}, **rejected)
    attempt = {"ip_address": "10.0.0.9", "user_agent": "curl", "path_info": "/accounts/login/"}
    AccessAttempt.objects.create(username="intruso", failures_since_start=3, **attempt)
    Group.objects.create(name="Asesores").permissions.set(Permission.objects.filter(codename="view_rule"))
    return user


def client_in(language: str, user: User | None = None) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    if user is not None:
        client.force_login(user)
    return client


def section_names(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/section/[\w-]+/" class="section"[^>]*>([^<]+)</a>', html)


def english_leftovers(texts: list[str]) -> list[str]:
    found = []
    for text in texts:
        if text.lower().rstrip(":").strip() in ENGLISH_WORDS:
            found.append(text)
        found += [phrase for phrase in ENGLISH_PHRASES if phrase in text]
    return found


def test_the_index_shows_the_business_sections_in_order(root: User) -> None:
    html = client_in("es", root).get("/admin/").content.decode()
    # Each section's caption appears twice: in the index and in the sidebar (which the index hides).
    assert section_names(html) == SECTION_NAMES_ES
    html = client_in("en", root).get("/admin/").content.decode()
    assert section_names(html) == SECTION_NAMES_EN


def test_every_registered_model_is_in_exactly_one_section(root: User) -> None:
    request = type("Request", (), {"user": root})()
    sections = WhatsAppAdminSite.get_sections(admin.site, request)
    labels = [row["model"]._meta.label for section in sections for row in section["models"] if "model" in row]
    assert sorted(labels) == sorted(model._meta.label for model in admin.site._registry)
    by_section = {
        section["slug"]: [row["model"]._meta.label if "model" in row else row["name"] for row in section["models"]]
        for section in sections
    }
    assert by_section["bot"][:3] == ["flows.Rule", "Flow diagram", "Simulator"]
    assert {"flows.QuickReply", "flows.GlobalCommand"} <= set(by_section["bot"])
    assert {"accounts.User", "accounts.Role", "auth.Group"} <= set(by_section["team"])
    assert by_section["settings"] == ["conversations.Channel", "catalog_ai.AISettings"]
    assert {"conversations.WebhookDelivery", "axes.AccessAttempt", "axes.AccessLog"} <= set(by_section["maintenance"])
    assert "conversations.Conversation" in by_section["conversations"]
    assert "catalog_ai.Catalog" in by_section["ai-catalog"]


def test_a_model_no_section_names_lands_in_maintenance(root: User, monkeypatch: pytest.MonkeyPatch) -> None:
    from whatsapp_ia import admin_site

    trimmed = tuple(
        admin_site.Section(s.slug, s.name, s.description, tuple(e for e in s.entries if e != "flows.GlobalCommand"))
        for s in SECTIONS
    )
    monkeypatch.setattr(admin_site, "SECTIONS", trimmed)
    request = type("Request", (), {"user": root})()
    sections = {s["slug"]: s for s in WhatsAppAdminSite.get_sections(admin.site, request)}
    assert "flows.GlobalCommand" in [row["model"]._meta.label for row in sections["maintenance"]["models"]]


def test_each_section_has_its_page_and_an_unknown_one_is_404(root: User) -> None:
    client = client_in("es", root)
    for section, name in zip(SECTIONS, SECTION_NAMES_ES, strict=True):
        response = client.get(reverse("admin:section", kwargs={"slug": section.slug}))
        assert response.status_code == 200
        html = response.content.decode()
        assert f"<h1>{name}</h1>" in html
        assert str(section.description) not in ("", None)
    assert client.get("/admin/section/nada/").status_code == 404
    assert client_in("es").get("/admin/section/bot/").status_code == 302  # to the login page


def test_a_user_sees_only_the_sections_and_links_their_permissions_allow(root: User) -> None:
    agent = User.objects.create_user(username="asesor", password="clave-123456", is_staff=True)
    agent.user_permissions.set(Permission.objects.filter(codename__in=["view_rule", "view_quickreply"]))
    client = client_in("es", agent)
    html = client.get("/admin/").content.decode()
    assert section_names(html) == ["Bot"]
    assert reverse("admin:flows_rule_diagram") in html and reverse("admin:flows_rule_simulator") in html
    assert "/admin/flows/globalcommand/" not in html
    assert client.get("/admin/section/team/").status_code == 404


def test_the_old_per_app_pages_still_work(root: User) -> None:
    client = client_in("es", root)
    for label in ("accounts", "conversations", "flows", "catalog_ai", "axes"):
        assert client.get(reverse("admin:app_list", kwargs={"app_label": label})).status_code == 200


def test_every_admin_page_renders_in_spanish_without_english_leftovers(root: User) -> None:
    urls = [*admin_page_urls(root), reverse("admin:catalog_ai_aisettings_changelist")]
    assert len(urls) > 50
    problems = []
    for url in urls:
        spanish = client_in("es", root).get(url)
        english = client_in("en", root).get(url)
        assert (spanish.status_code, english.status_code) == (200, 200), url
        es_texts, en_texts = visible_texts(spanish.content.decode()), visible_texts(english.content.decode())
        problems += [f"{url}: {text!r}" for text in english_leftovers(es_texts)]
        problems += [
            f"{url}: {text!r} (same in English)"
            for text in sorted(set(es_texts) & set(en_texts))
            if ENGLISH_MARKERS.search(text)
        ]
    assert problems == []


def test_the_login_pages_are_in_spanish(db: Any) -> None:
    for url in ("/accounts/login/", "/admin/login/"):
        html = client_in("es").get(url).content.decode()
        assert english_leftovers(visible_texts(html)) == [], url
        assert "favicon.svg" in html and "theme.css" in html


def test_every_page_links_the_favicon_and_the_shared_theme(root: User) -> None:
    for url in ("/admin/", "/admin/flows/rule/", "/admin/flows/rule/simulator/", "/accounts/login/"):
        client = client_in("es", None if url.startswith("/accounts") else root)
        html = client.get(url).content.decode()
        for asset in ("img/favicon.svg", "img/favicon.ico", "img/favicon-32.png", "img/apple-touch-icon.png"):
            assert asset in html, (url, asset)
        assert "css/theme.css" in html, url


def test_the_theme_defines_the_shared_variables() -> None:
    css = (settings.BASE_DIR / "static" / "css" / "theme.css").read_text()
    defined = set(re.findall(r"(--wia-[a-z-]+):", css))
    for name in ("--wia-color-brand", "--wia-color-primary", "--wia-color-accent", "--wia-color-bg",
                 "--wia-color-surface", "--wia-color-text", "--wia-color-muted", "--wia-color-border",
                 "--wia-color-danger", "--wia-color-bubble-in", "--wia-color-bubble-out", "--wia-radius",
                 "--wia-font", "--wia-header-height"):  # fmt: skip
        assert name in defined, name
    header = css.split("*/", 1)[0]
    assert [name for name in sorted(defined) if name not in header and name.rsplit("-", 1)[0] not in header] == []
    admin_css = (settings.BASE_DIR / "static" / "css" / "admin.css").read_text()
    used = set(re.findall(r"var\((--wia-[a-z-]+)\)", admin_css))
    assert used and used <= defined


def test_dates_show_in_the_business_time_zone_without_offset_notes(root: User) -> None:
    assert settings.TIME_ZONE == settings.BUSINESS_TIME_ZONE and settings.USE_TZ
    html = client_in("es", root).get(reverse("admin:accounts_user_change", args=[root.pk])).content.decode()
    assert "js/admin_time_zone.js" in html  # turns off Django's per-field "you are N hours ahead" notes
    assert "zona horaria del negocio" in html and settings.TIME_ZONE in html
    local = timezone.localtime(root.date_joined)
    assert local.utcoffset() == timezone.localtime(root.date_joined, timezone.get_default_timezone()).utcoffset()
    assert local.strftime("%H:%M") in html  # "last login"/"date joined" inputs hold the business's time


def test_permissions_are_labelled_in_the_readers_language(root: User) -> None:
    permission = Permission.objects.get(codename="add_rule")
    with translation.override("es"):
        assert permission_label(permission) == "Flujos del bot | Regla | Puede agregar regla"
    with translation.override("en"):
        assert permission_label(permission) == "Bot flows | Rule | Can add rule"
    html = (
        client_in("es", root)
        .get(reverse("admin:auth_group_change", args=[Group.objects.get(name="Asesores").pk]))
        .content
    )
    assert "Puede ver regla" in html.decode()


@pytest.mark.parametrize(
    ("stored", "spanish"),
    [
        ("Missing or invalid signature", "Firma ausente o no válida"),
        (
            "Body too large: 2000000 bytes, the limit is 1000000 (WEBHOOK_MAX_BODY_BYTES)",
            "Cuerpo demasiado grande: 2000000 bytes, el límite es 1000000 (WEBHOOK_MAX_BODY_BYTES)",
        ),
        ("Body is not valid JSON: Expecting value", "El cuerpo no es JSON válido: Expecting value"),
        ("entry[0]: unknown field", "entry[0]: unknown field"),  # a parser's detail stays as stored
        (  # what the webhook stores for a refused POST: the reason, then what was kept of it
            "Missing or invalid signature (50077 bytes from 127.0.0.1, the first 4096 kept)",
            "Firma ausente o no válida (50077 bytes desde 127.0.0.1, se guardaron los primeros 4096)",
        ),
        (
            "Missing or invalid signature (14 bytes from an unknown address)",
            "Firma ausente o no válida (14 bytes desde una dirección desconocida)",
        ),
    ],
)
def test_delivery_errors_are_shown_in_the_readers_language(stored: str, spanish: str) -> None:
    with translation.override("es"):
        assert delivery_error_text(stored) == spanish
    with translation.override("en"):
        assert delivery_error_text(stored) == stored


def test_the_favicon_is_served_at_the_site_root(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "America/Mexico_City"),
        ({"BUSINESS_TIME_ZONE": "Europe/Madrid"}, "Europe/Madrid"),
        ({"TIME_ZONE": "America/Lima"}, "America/Lima"),  # the older name still works
        ({"BUSINESS_TIME_ZONE": "America/Bogota", "TIME_ZONE": "America/Lima"}, "America/Bogota"),
    ],
)
def test_the_business_time_zone_setting(environ: dict[str, str], expected: str) -> None:
    import os
    import subprocess
    import sys

    # Both set (empty = unset), so a developer's .env file cannot fill them in.
    env = {**os.environ, "BUSINESS_TIME_ZONE": "", "TIME_ZONE": ""}
    code = "import django; django.setup(); from django.conf import settings; print(settings.TIME_ZONE)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "whatsapp_ia.settings.base", **environ},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == expected


def test_the_rules_import_and_export_pages_name_the_columns_in_spanish(root: User) -> None:
    client = client_in("es", root)
    for url in (reverse("admin:flows_rule_import"), reverse("admin:flows_rule_export")):
        html = client.get(url).content.decode()
        assert "Paso (step)" in html and "Siguiente paso (next_step)" in html, url
        assert "URL de los archivos (media_urls)" in html, url
    assert "Next Step" not in client.get(reverse("admin:flows_rule_export")).content.decode()


@pytest.mark.django_db
def test_a_delivery_is_named_in_the_readers_language() -> None:
    from conversations.models import WebhookDelivery

    delivery = WebhookDelivery.objects.create(provider="meta", body=b"{}", headers={}, state="rejected")
    with translation.override("es"):
        assert str(delivery) == f"meta #{delivery.pk} · Rechazado (firma)"
