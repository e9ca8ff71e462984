"""The AI settings page in real Chromium: "Try a question" (the answer and why it was chosen); the
"Images and voice notes" section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from catalog_ai.tests.test_answerer import QUESTION, catalog_make
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
URL = "/admin/catalog_ai/aisettings/"


@pytest.fixture(autouse=True)
def _offline(settings: Any, tmp_path: Any) -> None:
    from catalog_ai.cache import answer_cache_clear
    from catalog_ai.embedders import reset_embedder_cache

    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    reset_embedder_cache()
    answer_cache_clear()


def test_try_a_question_shows_the_passages_and_their_scores(live_server: Any, page: Any) -> None:  # noqa: F811
    catalog_make()
    User.objects.create_superuser(username="root", password="admin-pass-123")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/admin/login/?next=" + URL)
    page.fill("#id_username", "root")
    page.fill("#id_password", "admin-pass-123")
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(live_server.url + URL)

    page.fill("#id_question", QUESTION)
    with page.expect_navigation():
        page.locator(".ai-ask button[type=submit]").click()
    assert "$1.250.000" in page.locator(".ai-answer").inner_text()
    rows = page.locator(".ai-passages tbody tr")
    assert rows.count() >= 2
    first = rows.first.locator("td")
    assert first.nth(0).inner_text() == "1" and "GR-NEG-200" in first.nth(2).inner_text()
    assert page.locator(".ai-passages tr.ai-passed").count() >= 1
    assert page.locator(".ai-why .ai-bar i").first.is_visible()  # the threshold's mark on the score bar
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".ai-ask").screenshot(path=str(SHOTS / "admin-ai-try-a-question.png"))

    # An English question: the owner sees which Spanish words its words were also looked for as.
    page.fill("#id_question", "How much is the black granite countertop?")
    with page.expect_navigation():
        page.locator(".ai-ask button[type=submit]").click()
    assert "$1.250.000" in page.locator(".ai-answer").inner_text()
    assert "granite → granito" in page.locator(".ai-translations").inner_text()
    assert "idioma del catálogo" in page.locator(".ai-translations").inner_text()
    page.locator(".ai-ask").screenshot(path=str(SHOTS / "admin-ai-try-a-question-english.png"))

    # The same page for an owner who chose English (the language switcher's cookie).
    english = page.context.browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        english.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
        en = english.new_page()
        en.goto(live_server.url + "/admin/login/?next=" + URL)
        en.fill("#id_username", "root")
        en.fill("#id_password", "admin-pass-123")
        en.locator("input[type=submit], button[type=submit]").first.click()
        en.wait_for_url(live_server.url + URL)
        en.fill("#id_question", "How much is the black granite countertop?")
        with en.expect_navigation():
            en.locator(".ai-ask button[type=submit]").click()
        words = en.locator(".ai-translations").inner_text()
        assert "also looked for in the catalog's language" in words and "granite → granito" in words
        en.locator(".ai-ask").screenshot(path=str(SHOTS / "admin-ai-try-a-question-english-ui.png"))
    finally:
        english.close()


def test_the_images_and_voice_notes_section_saves_the_prompt(live_server: Any, page: Any) -> None:  # noqa: F811
    from conversations.models import EnrichmentSettings
    from conversations.models.enrichment import DEFAULT_VISION_PROMPT

    User.objects.create_superuser(username="root", password="admin-pass-123")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/admin/login/?next=" + URL)
    page.fill("#id_username", "root")
    page.fill("#id_password", "admin-pass-123")
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(live_server.url + URL)

    section = page.locator("#ai-media")
    assert "Imágenes y notas de voz" in section.locator("h2").inner_text()
    assert section.locator("#id_vision_prompt").get_attribute("placeholder") == DEFAULT_VISION_PROMPT
    assert "Tesseract OCR (texto leído en la imagen)" in section.locator(".ai-models").inner_text()
    section.locator("#id_vision_prompt").fill("Di qué mesón o lavaplatos muestra la foto, con medidas y color.")
    section.locator("#id_visual_context_minutes").fill("9000")
    with page.expect_navigation():
        section.locator("button[value=media]").click()
    section = page.locator("#ai-media")
    assert "1440" in section.locator(".field-visual_context_minutes .errorlist").inner_text()  # shown in place
    assert section.locator("#id_vision_prompt").input_value().startswith("Di qué mesón")  # kept while fixing

    section.locator("#id_visual_context_minutes").fill("10")
    section.locator("#id_transcription_enabled").uncheck()
    with page.expect_navigation():
        section.locator("button[value=media]").click()
    assert page.url.endswith(URL + "#ai-media")
    assert "Se guardó la configuración de imágenes y notas de voz." in page.locator(".messagelist").inner_text()
    saved = EnrichmentSettings.load()
    assert saved.vision_prompt == "Di qué mesón o lavaplatos muestra la foto, con medidas y color."
    assert (saved.visual_context_minutes, saved.transcription_enabled, saved.description_enabled) == (10, False, True)
    assert page.locator("#id_vision_prompt").input_value() == saved.vision_prompt
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#ai-media").screenshot(path=str(SHOTS / "admin-ai-images-and-voice-notes.png"))
