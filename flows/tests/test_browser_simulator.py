"""The bot simulator admin page in real Chromium: type, tap a button, see the next reply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from accounts.models import User
from flows.simulator import simulator_conversation
from flows.tests import factories
from whatsapp_ia.demo import demo_flow_load
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
URL = "/admin/flows/rule/simulator/"


def _log_in(page: Any, base_url: str) -> None:  # noqa: F811
    User.objects.create_superuser(username="root", password="admin-pass-123")
    page.goto(base_url + "/admin/login/?next=" + URL)
    page.fill("#id_username", "root")
    page.fill("#id_password", "admin-pass-123")
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(base_url + URL)


def _say(page: Any, text: str) -> None:  # noqa: F811
    with page.expect_navigation():
        page.fill("#sim-text", text)
        page.press("#sim-text", "Enter")


def test_admin_chats_with_the_bot_taps_a_button_and_restarts(live_server: Any, page: Any) -> None:  # noqa: F811
    demo_flow_load()
    factories.default_commands()
    SHOTS.mkdir(parents=True, exist_ok=True)
    broker = redis.Redis.from_url(settings.REDIS_URL)
    queued_before = broker.llen("celery")  # Celery's default queue on the Redis broker
    _log_in(page, live_server.url)

    assert page.locator(".breadcrumbs a").count() == 3
    assert page.locator(".sim-empty").is_visible()
    assert page.locator("#sim-number").input_value() == "573000000000"

    _say(page, "hola")
    bot = page.locator(".sim-row.sim-out").last
    assert "Mesones del Valle" in bot.locator(".sim-text").inner_text()
    buttons = page.locator("form.sim-choices button.sim-choice")
    assert buttons.all_inner_texts() == ["Cotizar mesón", "Ver catálogo", "Hablar con asesor"]
    assert page.locator("#sim-step").inner_text().strip() == "menu"

    with page.expect_navigation():
        buttons.filter(has_text="Cotizar mesón").click()
    assert page.locator(".sim-row.sim-in").last.locator(".sim-tapped").is_visible()
    assert "Escríbeme las medidas" in page.locator(".sim-row.sim-out").last.inner_text()
    assert page.locator("#sim-step").inner_text().strip() == "medidas"
    assert page.locator("#sim-roles .sim-role").all_inner_texts() == ["ventas"]
    assert page.locator("form.sim-choices").count() == 0  # the old menu is no longer tappable

    _say(page, "2,4 x 0,6 m")
    quote = page.locator(".sim-row.sim-out").last.inner_text()
    assert "1,44 m²" in quote and "$604.800" in quote
    assert page.locator("#sim-step").inner_text().strip() == "visita"

    _say(page, "no")
    _say(page, "menu")  # a global command: the welcome buttons come back, tappable
    assert page.locator("form.sim-choices button.sim-choice").count() == 3
    page.locator("#sim-text").focus()
    page.screenshot(path=str(SHOTS / "admin-simulator.png"))

    with page.expect_navigation():
        page.locator("form.sim-choices button.sim-choice").filter(has_text="Ver catálogo").click()
    rows = page.locator("form.sim-list-choices button.sim-choice")
    assert rows.locator(".sim-choice-title").all_inner_texts() == [
        "Granito",
        "Cuarzo",
        "Mármol",
        "Preguntar al asistente",
        "Menú principal",
    ]
    assert "Blanco Polar" in rows.nth(1).inner_text()
    page.screenshot(path=str(SHOTS / "admin-simulator-list.png"))
    with page.expect_navigation():
        rows.nth(1).click()
    assert "Cuarzo" in page.locator(".sim-row.sim-in").last.inner_text()
    assert "Cuarzo Blanco Polar: $610.000 por m²" in page.locator(".sim-row.sim-out").last.inner_text()
    assert page.locator("#sim-step").inner_text().strip() == "producto_cuarzo"

    with page.expect_navigation():
        page.locator(".sim-reset-btn").click()
    assert page.locator(".sim-empty").is_visible()
    assert simulator_conversation(number="573000000000") is None
    assert broker.llen("celery") == queued_before  # the pipeline ran in the web request; no task was published


def test_the_demo_hands_the_chat_to_the_ai_which_answers_with_its_page_image(
    live_server: Any,
    page: Any,  # noqa: F811
    settings: Any,
    tmp_path: Path,
) -> None:
    """From the demo's menu to the AI (offline), as a newcomer after `bin/run --demo`: the answer and its page."""
    from catalog_ai.embedders import reset_embedder_cache
    from whatsapp_ia.demo import DEMO_AI_QUESTIONS, demo_ai_load

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    reset_embedder_cache()
    demo_flow_load()
    factories.default_commands()
    demo_ai_load()
    SHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page, live_server.url)
    tips = page.locator(".sim-help")
    assert "the AI answers from the catalogs here too" in tips.inner_text()  # flows' tests run in English

    _say(page, "hola")
    with page.expect_navigation():
        page.locator("form.sim-choices button.sim-choice").filter(has_text="Ver catálogo").click()
    with page.expect_navigation():
        page.locator("form.sim-list-choices button.sim-choice").filter(has_text="Preguntar al asistente").click()
    intro = page.locator(".sim-row.sim-out").last
    assert "asistente virtual" in intro.locator(".sim-text").inner_text()
    questions = page.locator("form.sim-choices button.sim-choice")
    assert questions.all_inner_texts() == list(DEMO_AI_QUESTIONS)
    assert page.locator("#sim-step").inner_text().strip() == "ia_chat"

    with page.expect_navigation():
        questions.filter(has_text="¿Precio del mármol?").click()
    answer, image = page.locator(".sim-row.sim-out").nth(-2), page.locator(".sim-row.sim-out").last
    assert "$560.000" in answer.locator(".sim-text").inner_text()
    assert answer.locator(".sim-meta .sim-ai").inner_text() == "AI"
    assert answer.locator(".sim-meta a.sim-ai").get_attribute("href").startswith("/admin/catalog_ai/ailog/")
    assert image.get_attribute("data-kind") == "image" and image.locator(".sim-text").inner_text() == "Página 3"
    picture = image.locator(".sim-image img")
    picture.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    assert picture.evaluate("img => img.naturalWidth") >= 300  # the page, rendered, served to the admin
    assert picture.get_attribute("src").startswith("/messages/")
    assert page.locator("#sim-bot").inner_text() == "The AI answers"
    assert "The AI is answering this chat" in tips.inner_text()
    page.screenshot(path=str(SHOTS / "admin-simulator-ai.png"))
