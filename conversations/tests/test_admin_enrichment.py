"""Transcriptions and image descriptions in the admin (the message list's filter, the message page's
"Transcription / description" fieldset) and the console page's reason catalog."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, Message
from conversations.services.enrichment_types import REASONS
from conversations.tests.conftest import laura_conversation

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/conversations/message/"


@pytest.fixture
def chat() -> Conversation:
    return laura_conversation()


def _audio(chat: Conversation, **fields: Any) -> Message:
    return Message.objects.create(conversation=chat, direction="in", kind="audio", provider="meta", **fields)


def _image(chat: Conversation, **fields: Any) -> Message:
    return Message.objects.create(conversation=chat, direction="in", kind="image", provider="meta", **fields)


def _rows(body: str) -> int:
    return len(re.findall(r'<input type="checkbox" name="_selected_action"', body))


def test_the_message_list_filters_by_transcription_state(admin_client: Client, chat: Conversation) -> None:
    _audio(chat, enrichment_state="unavailable", enrichment_reason="no_model")
    _audio(chat, enrichment_state="done", transcription="Quiero saber el precio del metro")
    _image(chat, enrichment_state="done", image_description="Una baldosa gris")

    body = admin_client.get(LIST_URL).content.decode()
    assert "Por transcripción / descripción" in body  # the filter, in Spanish
    assert "?enrichment_state__exact=unavailable" in body
    assert "No disponible" in body
    assert _rows(body) == 3
    assert "Quiero saber el precio del metro" in body and "Una baldosa gris" in body  # the list's text column

    unavailable = admin_client.get(LIST_URL, {"enrichment_state__exact": "unavailable"}).content.decode()
    assert _rows(unavailable) == 1
    assert _rows(admin_client.get(LIST_URL, {"enrichment_state__exact": "done"}).content.decode()) == 2


def test_the_message_list_costs_the_same_queries_for_more_rows(admin_client: Client, chat: Conversation) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(LIST_URL).status_code == 200
        return len(queries)

    _audio(chat, enrichment_state="done", transcription="uno", data={"enrichment": {"backend": "vosk"}})
    few = count()
    for n in range(15):
        _audio(chat, enrichment_state="failed", enrichment_reason="corrupt", data={"enrichment": {"backend": "vosk"}})
        _image(chat, enrichment_state="done", image_description=f"foto {n}", data={"enrichment": {"source": "ocr"}})
    assert count() == few


def test_the_message_page_shows_the_transcription_state_reason_and_details(
    admin_client: Client, chat: Conversation
) -> None:
    message = _audio(
        chat,
        enrichment_state="unavailable",
        enrichment_reason="no_model",
        data={
            "enrichment": {
                "source": "transcription",
                "backend": "vosk",
                "detail": "VOSK_MODEL_PATH is empty",
                "elapsed_ms": 3,
                "duration_ms": 4200,
            }
        },
    )
    url = f"/admin/conversations/message/{message.pk}/change/"

    body = admin_client.get(url).content.decode()
    fieldset = body[body.index("Transcripción / descripción</h2>") :]
    for shown in (
        "transcripción no disponible: no hay modelo",  # the reason, translated
        "<code>no_model</code>",
        "No disponible",  # the state
        "vosk",
        "VOSK_MODEL_PATH is empty",
        "tiempo empleado (ms)",
        "4200",
    ):
        assert shown in fieldset, shown
    assert 'name="enrichment_reason"' not in body and 'name="enrichment_state"' not in body  # read-only

    admin_client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    body = admin_client.get(url).content.decode()
    assert "Transcription / description</h2>" in body
    assert "transcription unavailable: no model" in body


def test_a_hostile_description_is_escaped_on_the_message_page(admin_client: Client, chat: Conversation) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    message = _image(
        chat,
        enrichment_state="done",
        image_description=hostile,
        data={"enrichment": {"source": "vision", "backend": "<b>openai-vision</b>", "elapsed_ms": 840}},
    )
    body = admin_client.get(f"/admin/conversations/message/{message.pk}/change/").content.decode()
    assert hostile not in body and "<b>openai-vision</b>" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    assert "840" in body


def test_the_add_page_has_no_enrichment_fieldset(admin_client: Client) -> None:
    body = admin_client.get("/admin/conversations/message/add/").content.decode()
    assert "Transcripción / descripción</h2>" not in body
    assert 'name="text"' in body


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_console_page_carries_the_reasons_in_the_agents_language(client: Client, language: str) -> None:
    from accounts.models import User

    client.force_login(User.objects.create_user(username="agente", password="x"))
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    body = client.get("/").content.decode()
    config = json.loads(re.search(r'<script id="console-config" type="application/json">(.*?)</script>', body, re.S)[1])
    reasons = config["enrichmentReasons"]
    assert set(reasons) == set(REASONS)
    expected = "demasiado largo para transcribir" if language == "es" else "too long to transcribe"
    assert reasons["too_long"] == expected
