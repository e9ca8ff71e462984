"""Login, home and language switch in real Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import User
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_agent_logs_in_sees_the_console_home_and_switches_language(live_server: Any, page: Any) -> None:  # noqa: F811
    User.objects.create_user(username="agente", password="clave-segura-123")
    SHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url
    assert page.locator("h1").inner_text().endswith("WhatsApp IA")
    assert page.get_by_role("button", name="Iniciar sesión").is_visible()
    page.screenshot(path=str(SHOTS / "login-es.png"))

    page.fill("#id_username", "agente")
    page.fill("#id_password", "equivocada")
    page.get_by_role("button", name="Iniciar sesión").click()
    assert page.get_by_role("alert").is_visible()

    page.fill("#id_username", "agente")
    page.fill("#id_password", "clave-segura-123")
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(live_server.url + "/")
    expect(page.get_by_text("Todavía no hay conversaciones")).to_be_visible()  # the console's empty list
    page.screenshot(path=str(SHOTS / "home-es.png"))

    with page.expect_navigation():
        page.select_option("header select[name=language]", "en")
    expect(page.get_by_text("No conversations yet")).to_be_visible()
    assert page.get_by_role("button", name="Log out").is_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    assert page.get_by_role("button", name="Log in").is_visible()
