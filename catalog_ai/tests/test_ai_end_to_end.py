"""The AI through the real pieces: webhook → Redis → Celery worker → rules hand over → AI answers → local Graph.

A rule moves the chat to the hand-off step "ia_chat"; with the AI on, the customer's
question is buffered, answered once from the catalog, and Graph receives the text with
the price and the catalog page image, uploaded to Graph (/media) and sent by its media id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from catalog_ai.models import AILog, AISettings
from catalog_ai.tests.test_answerer import GROUNDED, QUESTION, catalog_make, page_image
from conftest import celery_settled
from conversations.models import Conversation, Message
from conversations.tests import conftest as conversations_fixtures
from conversations.tests.conftest import sign
from conversations.tests.test_processing import text_payload
from flows.tests import factories
from whatsapp_ia.demo import demo_flow_load
from whatsapp_ia.fakes.openai import FakeOpenAI, ScriptedModel

pytestmark = pytest.mark.django_db(transaction=True)

fake_graph = conversations_fixtures.fake_graph
meta_settings = conversations_fixtures.meta_settings

MEDIA_BASE = "https://media.example.com/"
PAGE_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"page-one" * 64


@pytest.fixture(autouse=True)
def _ai_test_settings(settings: Any, redis_client: Any, tmp_path: Any) -> None:
    from catalog_ai.embedders import reset_embedder_cache

    settings.MEDIA_PUBLIC_BASE_URL = MEDIA_BASE
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    settings.AI_BUFFER_TEXT_SECONDS = 0.5
    settings.AI_BUFFER_IMAGE_SECONDS = 1.0
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    reset_embedder_cache()


def post(payload: dict) -> None:
    body = json.dumps(payload).encode()
    response = Client().post(
        "/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body)
    )
    assert response.status_code == 200


def store_setup() -> None:
    """The demo flow plus a menu option that hands the chat to the AI, the AI on, one catalog indexed."""
    demo_flow_load()
    factories.rule(
        step="menu", input_text="asistente, preguntar", priority=5, response_type="text",
        response_text="Pregúntame lo que quieras de nuestro catálogo.", next_step="ia_chat",
    )  # fmt: skip
    ai = AISettings.load()
    ai.enabled, ai.handoff_step = True, "ia_chat"
    ai.save()
    catalog_make()


@pytest.fixture(params=["offline", "online"])
def mode(request: Any, settings: Any) -> Iterator[str]:
    """offline: no key, the extractive answer. online: a local OpenAI-compatible server writes it."""
    if request.param == "offline":
        yield "extractive"
        return
    from catalog_ai.embedders import reset_embedder_cache

    with FakeOpenAI(answer=ScriptedModel(GROUNDED)) as server:
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_MAX_RETRIES = 0
        reset_embedder_cache()
        yield "openai-responses"
    reset_embedder_cache()


def test_the_ai_answers_a_customer_with_the_price_and_the_catalog_page(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, mode: str, redis_client: Any
) -> None:
    store_setup()
    page_file = Path(settings.MEDIA_ROOT) / page_image("Catálogo 2025", 1)
    page_file.parent.mkdir(parents=True, exist_ok=True)
    page_file.write_bytes(PAGE_JPEG)
    post(text_payload("hola", n=1))
    fake_graph.wait_for_sent(1, timeout=15)  # the menu
    post(text_payload("asistente", n=2))
    sent = fake_graph.wait_for_sent(2, timeout=15)
    assert sent[1]["json"]["text"]["body"] == "Pregúntame lo que quieras de nuestro catálogo."
    conversation = Conversation.objects.get()
    assert conversation.step == "ia_chat"

    asked = time.time()
    post(text_payload(QUESTION, n=3))
    sent = fake_graph.wait_for_sent(4, timeout=20)
    answer, image = sent[2]["json"], sent[3]["json"]
    assert answer["type"] == "text"
    assert "$1.250.000" in answer["text"]["body"] and "GR-NEG-200" in answer["text"]["body"]
    assert sent[2]["at"] >= asked + 0.5  # the buffer waited for silence
    assert image["type"] == "image"
    [upload] = fake_graph.uploads
    assert (upload["content"], upload["type"], upload["messaging_product"]) == (PAGE_JPEG, "image/jpeg", "whatsapp")
    assert image["image"] == {"id": upload["media_id"], "caption": "Página 1"}
    assert image["to"] == answer["to"] == "573001112233"

    celery_settled(redis_client)  # every task has run
    assert len(fake_graph.sent) == 4  # one answer for the question, nothing more
    conversation.refresh_from_db()
    assert (conversation.step, conversation.status) == ("ia_chat", "ai")
    log = AILog.objects.get()
    assert log.conversation_id == conversation.pk and log.question == QUESTION and log.backend == mode
    assert log.references[0] == {**log.references[0], "page": 1, "sku": "GR-NEG-200"}
    question = Message.objects.get(direction="in", text=QUESTION)
    assert question.awaiting_ai is False and question.data["ai_log"] == log.pk
    assert Message.objects.filter(direction="out", status="sent").count() == 4
