"""The admin in real Chromium: its sections in Spanish and English, no English leftovers in Spanish, the shared
look (header colour, favicon) and the AI settings page's folded "Advanced" group. Screenshots go to
var/screenshots/ (admin-*.png) for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from whatsapp_ia.admin_site import SECTIONS
from whatsapp_ia.demo import demo_load
from whatsapp_ia.tests.admin_pages import visible_texts
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)
from whatsapp_ia.tests.test_admin_site import SECTION_NAMES_EN, SECTION_NAMES_ES, english_leftovers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
BRAND_RGB = "rgb(7, 94, 84)"  # --wia-color-brand, #075e54


def _log_in(page: Any, base_url: str) -> None:  # noqa: F811
    User.objects.create_superuser(username="root", password="admin-pass-123")
    page.goto(base_url + "/accounts/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "admin-pass-123")
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(base_url + "/admin/")


def _captions(page: Any) -> list[str]:  # noqa: F811
    return [t.strip() for t in page.locator("#content-main .module caption a.section").all_text_contents()]


def test_the_admin_sections_in_spanish_and_english(live_server: Any, page: Any) -> None:  # noqa: F811
    demo_load(with_ai=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page, live_server.url)

    # Spanish by default: the six sections in order, in the shared header colour, with the favicon.
    assert _captions(page) == SECTION_NAMES_ES
    assert page.locator("#header").evaluate("e => getComputedStyle(e).backgroundColor") == BRAND_RGB
    icon = page.locator("link[rel=icon][type='image/svg+xml']").get_attribute("href")
    assert page.request.get(live_server.url + icon).headers["content-type"].startswith("image/svg")
    assert english_leftovers(visible_texts(page.content())) == []
    page.screenshot(path=str(SHOTS / "admin-index-es.png"), full_page=True)

    for section, name in zip(SECTIONS, SECTION_NAMES_ES, strict=True):
        page.locator("#content-main a.section", has_text=name).first.click()
        page.wait_for_url(f"**/admin/section/{section.slug}/")
        assert page.locator("h1").inner_text() == name
        assert page.locator("#content-main tr a").count() >= 1
        assert english_leftovers(visible_texts(page.content())) == [], section.slug
        page.screenshot(path=str(SHOTS / f"admin-section-{section.slug}-es.png"), full_page=True)
        page.go_back()

    # The Bot section reaches the custom pages (diagram, simulator) as plain entries.
    page.goto(live_server.url + "/admin/section/bot/")
    page.get_by_role("link", name="Simulador", exact=True).click()
    page.wait_for_url("**/admin/flows/rule/simulator/")

    # English through the header's language selector; the same sections, named in English.
    page.goto(live_server.url + "/admin/")
    with page.expect_navigation():
        page.select_option("#user-tools select[name=language]", "en")
    assert _captions(page) == SECTION_NAMES_EN
    assert page.get_by_role("button", name="Log out").is_visible()
    page.screenshot(path=str(SHOTS / "admin-index-en.png"), full_page=True)
    for section, name in zip(SECTIONS, SECTION_NAMES_EN, strict=True):
        page.goto(live_server.url + f"/admin/section/{section.slug}/")
        assert page.locator("h1").inner_text() == name
        page.screenshot(path=str(SHOTS / f"admin-section-{section.slug}-en.png"), full_page=True)


def test_the_ai_settings_page_folds_the_technical_fields(live_server: Any, page: Any) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page, live_server.url)
    page.goto(live_server.url + "/admin/catalog_ai/aisettings/")
    assert page.get_by_label("Dejar que la IA responda a los clientes").is_visible()
    assert page.get_by_label("Qué decir cuando el catálogo no tiene la respuesta").is_visible()
    model = page.get_by_label("Modelo de IA que redacta las respuestas")
    assert not model.is_visible()  # folded under "Avanzado"
    page.screenshot(path=str(SHOTS / "admin-ai-settings-es.png"), full_page=True)
    page.get_by_text("Avanzado", exact=True).click()
    assert model.is_visible()
    page.screenshot(path=str(SHOTS / "admin-ai-settings-advanced-es.png"), full_page=True)

    # An error in a folded field opens the group, so the owner sees what to fix.
    page.get_by_label("Qué tan parecido debe ser lo que se encuentra en el catálogo (0 a 1)").fill("7")
    with page.expect_navigation():
        page.locator("button[name=action][value=save]").click()  # the settings form's (the media section has its own)
    assert page.locator("details.wia-advanced[open] .errorlist").is_visible()


def test_no_time_zone_notes_for_an_agent_in_another_time_zone(live_server: Any, page: Any) -> None:  # noqa: F811
    from conversations.models import Conversation

    demo_load(with_ai=False)
    _log_in(page, live_server.url)
    # An agent whose computer is 15 hours away from the business (Tokyo vs Mexico City).
    context = page.context.browser.new_context(timezone_id="Asia/Tokyo", locale="es-CO")
    context.add_cookies(page.context.cookies())
    tokyo = context.new_page()
    chat = Conversation.objects.order_by("pk").first()
    tokyo.goto(live_server.url + f"/admin/conversations/conversation/{chat.pk}/change/")
    assert tokyo.locator("input.vDateField").count() >= 1  # the form has date and time inputs
    assert tokyo.locator(".datetimeshortcuts").count() >= 1  # Django's calendar/clock shortcuts are there
    assert tokyo.locator(".timezonewarning").count() == 0  # but no "you are N hours ahead of the server"
    assert "zona horaria del negocio (America/Mexico_City)" in tokyo.locator("#footer").inner_text()
    tokyo.screenshot(path=str(SHOTS / "admin-change-form-tokyo-es.png"), full_page=True)
    context.close()
