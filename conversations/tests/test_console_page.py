"""The console page (HomeView): login required, its config and every JavaScript text translated."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from accounts.models import Role, User
from conversations.console_strings import CONSOLE_STRINGS, console_catalog

ROOT = Path(__file__).resolve().parents[2]
JS = sorted((ROOT / "static" / "console" / "js").glob("*.js"))
# Texts that read the same in Spanish.
SAME_IN_SPANISH = {
    "Alias",
    "Chats",
    "Roles",
    "Roles…",
    "Sticker",
    "Video",
    "Variable {{%(name)s}}",
    "AI",
    "Bot",
    "Export CSV",
    "Export JSON",
}


def _js_texts() -> set[str]:
    found: set[str] = set()
    for path in JS:
        for match in re.finditer(r'\bt\("((?:[^"\\]|\\.)*)"', path.read_text()):
            found.add(json.loads(f'"{match.group(1)}"'))
    return found


def _data(body: str, element_id: str) -> dict:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', body, re.S)
    assert match, element_id
    return json.loads(match.group(1))


def test_every_text_the_javascript_shows_is_in_the_catalog() -> None:
    texts = _js_texts()
    assert len(texts) > 100
    assert texts - set(CONSOLE_STRINGS) == set()
    assert set(CONSOLE_STRINGS) - texts == set()  # nothing stale either


def test_every_catalog_text_has_a_spanish_translation() -> None:
    with translation.override("es"):
        catalog = console_catalog()
    untranslated = [msgid for msgid, text in catalog.items() if text == msgid and msgid not in SAME_IN_SPANISH]
    assert untranslated == []
    for msgid, text in catalog.items():  # the placeholders survive translation
        assert sorted(re.findall(r"%\((\w+)\)s", msgid)) == sorted(re.findall(r"%\((\w+)\)s", text)), msgid


@pytest.mark.django_db
def test_the_console_needs_a_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "search"), [("es", "Buscar nombre, alias, número o texto"), ("en", "Search name")]
)
def test_the_page_carries_its_config_and_catalog_in_the_users_language(
    client: Client, language: str, search: str, settings: object
) -> None:
    ventas, soporte = (
        Role.objects.create(name="Ventas", keyword="ventas"),
        Role.objects.create(name="Soporte", keyword="soporte"),
    )
    agent = User.objects.create_user(username="agente", password="x", first_name="Beto")
    agent.roles.add(ventas)
    client.force_login(agent)
    client.cookies["django_language"] = language

    body = client.get("/").content.decode()

    assert f'<html lang="{language}">' in body
    assert search in body
    config = _data(body, "console-config")
    assert config["user"] == {"id": agent.pk, "name": "Beto", "isStaff": False}
    assert config["language"] == language
    assert config["timeZone"] == settings.TIME_ZONE
    assert config["urls"]["conversations"] == "/api/conversations/"
    assert config["urls"]["websocket"] == "/ws/console/"
    assert {r["name"] for r in config["roles"]} == {"Ventas", "Soporte"}  # to edit a chat's roles
    assert config["csrfToken"]
    # the role filter offers the agent's own roles only
    assert f'<option value="{ventas.pk}">Ventas</option>' in body
    assert f'<option value="{soporte.pk}">Soporte</option>' not in body
    catalog = _data(body, "console-strings")
    assert catalog["Take over"] == ("Tomar el chat" if language == "es" else "Take over")


@pytest.mark.django_db
def test_a_superuser_filters_by_every_role(client: Client) -> None:
    ventas = Role.objects.create(name="Ventas", keyword="ventas")
    client.force_login(User.objects.create_superuser(username="jefe", password="x"))
    body = client.get("/").content.decode()
    assert f'<option value="{ventas.pk}">Ventas</option>' in body


@pytest.mark.django_db
def test_hostile_role_names_are_escaped_in_the_page(client: Client) -> None:
    Role.objects.create(name="</script><script>alert(1)</script>", keyword="x")
    client.force_login(User.objects.create_superuser(username="jefe", password="x"))
    body = client.get("/").content.decode()
    assert "<script>alert(1)</script>" not in body
    config = _data(body, "console-config")
    assert config["roles"][0]["name"] == "</script><script>alert(1)</script>"
