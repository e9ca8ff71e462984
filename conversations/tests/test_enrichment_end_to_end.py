"""A customer's photo or voice note through the real pieces: signed webhook → Redis → the Celery worker
(default queue, then the vision or transcription queue) → real Tesseract / Vosk / a local OpenAI server →
the rules → the reply at the local Graph server, exactly once.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.test import Client
from PIL import Image, ImageDraw, ImageFont

from conftest import celery_settled, wait_for
from conversations.models import Message
from conversations.tests.audio_samples import WORDS, audio_samples_fixture, korean_model_fixture  # noqa: F401
from conversations.tests.conftest import sign
from conversations.tests.media_support import media_payload
from whatsapp_ia.fakes.openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
RECEIPT_REPLY = "Recibimos tu comprobante de pago. Un asesor lo revisa y te confirma."


def receipt_png() -> bytes:
    """A photo of a payment receipt, as a customer sends it (text Tesseract can read)."""
    image = Image.new("RGB", (900, 360), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 44)
    for row, line in enumerate(["RECIBO DE PAGO", "Banco Andino", "TOTAL $45.900"]):
        draw.text((40, 30 + row * 100), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def receipt_rule() -> Any:
    from flows.models import Rule

    Rule.objects.create(step="inicio", input_text="*", response_text="¿En qué te ayudo?", priority=900)
    return Rule.objects.create(
        step="inicio", input_text="recibo, comprobante", response_text=RECEIPT_REPLY, match_image_description=True
    )


def post_media(fake_graph: Any, content: bytes, *, kind: str, mime_type: str, n: int = 1) -> str:
    payload = media_payload(content, kind=kind, mime_type=mime_type, media_id=f"77{n:04d}", n=n)
    fake_graph.add_media(f"77{n:04d}", content, mime_type)
    body = json.dumps(payload).encode()
    response = Client().post(
        "/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body)
    )
    assert response.status_code == 200
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]


def test_a_photo_of_a_receipt_is_read_offline_and_routes_the_chat_by_its_words(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, redis_client: Any, receipt_rule: Any, settings: Any
) -> None:
    settings.OPENAI_API_KEY = ""
    wamid = post_media(fake_graph, receipt_png(), kind="image", mime_type="image/png")

    sent = fake_graph.wait_for_sent(1, timeout=30)
    assert sent[0]["json"]["text"]["body"] == RECEIPT_REPLY
    photo = Message.objects.get(provider_message_id=wamid)
    assert (photo.enrichment_state, photo.data["enrichment"]["source"]) == ("done", "ocr")
    assert "45.900" in photo.image_description
    celery_settled(redis_client)
    assert len(fake_graph.sent) == 1  # answered once


def test_a_photo_is_described_by_the_vision_model_when_openai_is_configured(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, redis_client: Any, receipt_rule: Any, settings: Any
) -> None:
    with FakeOpenAI() as server:
        server.answer = lambda call: "Foto de un comprobante de pago bancario por $45.900." if call.images else "?"
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        settings.AI_VISION_MODEL = "gpt-4o-mini"
        wamid = post_media(fake_graph, receipt_png(), kind="image", mime_type="image/png", n=2)

        sent = fake_graph.wait_for_sent(1, timeout=30)
        calls = server.requests_to("/v1/chat/completions")
    assert sent[0]["json"]["text"]["body"] == RECEIPT_REPLY
    assert len(calls) == 1 and calls[0].body["model"] == "gpt-4o-mini"
    photo = Message.objects.get(provider_message_id=wamid)
    assert photo.image_description == "Foto de un comprobante de pago bancario por $45.900."
    assert photo.data["enrichment"]["source"] == "vision"
    celery_settled(redis_client)
    assert len(fake_graph.sent) == 1


def test_an_unreadable_image_gets_the_flows_answer_and_the_chat_is_flagged(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, redis_client: Any, receipt_rule: Any, settings: Any
) -> None:
    settings.OPENAI_API_KEY = ""
    wamid = post_media(fake_graph, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, kind="image", mime_type="image/png", n=3)

    sent = fake_graph.wait_for_sent(1, timeout=30)
    assert sent[0]["json"]["text"]["body"] == "¿En qué te ayudo?"
    photo = Message.objects.get(provider_message_id=wamid)
    assert (photo.enrichment_state, photo.enrichment_reason) == ("failed", "corrupt")
    wait_for(lambda: photo.conversation.__class__.objects.get(pk=photo.conversation_id).needs_attention)
    celery_settled(redis_client)
    assert len(fake_graph.sent) == 1


VOICE_REPLY = "¡Gracias a ti! ¿Te ayudo con algo más?"


@pytest.fixture
def thanks_rule() -> Any:
    from flows.models import Rule

    Rule.objects.create(step="inicio", input_text="*", response_text="¿En qué te ayudo?", priority=900)
    return Rule.objects.create(step="inicio", input_text="감사합니다", response_text=VOICE_REPLY)


def test_a_voice_note_is_transcribed_offline_by_vosk_and_the_rules_answer_its_words(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, redis_client: Any, thanks_rule: Any, settings: Any,
    audio_samples: Any, korean_model: Any,
) -> None:  # fmt: skip
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(korean_model)
    settings.VOSK_GRAMMAR = WORDS  # the Korean test model recognises espeak's robotic voice in grammar mode
    ogg = audio_samples.encoded["ogg"].read_bytes()  # a WhatsApp voice note: Ogg/Opus
    wamid = post_media(fake_graph, ogg, kind="audio", mime_type="audio/ogg; codecs=opus", n=4)

    sent = fake_graph.wait_for_sent(1, timeout=60)
    assert sent[0]["json"]["text"]["body"] == VOICE_REPLY
    note = Message.objects.get(provider_message_id=wamid)
    assert note.transcription.split()[0] == "감사합니다"
    assert (note.enrichment_state, note.data["enrichment"]["backend"]) == ("done", "vosk")
    assert note.data["enrichment"]["duration_ms"] > 1000
    celery_settled(redis_client)
    assert len(fake_graph.sent) == 1  # its text entered the rules once


def test_a_voice_note_is_transcribed_by_openai_when_chosen(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, redis_client: Any, thanks_rule: Any, settings: Any,
    audio_samples: Any,
) -> None:  # fmt: skip
    with FakeOpenAI() as server:
        server.transcribe = lambda filename, data, model: "감사합니다"
        settings.TRANSCRIPTION_BACKEND = "openai"
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        wamid = post_media(fake_graph, audio_samples.encoded["m4a"].read_bytes(), kind="audio", mime_type="audio/mp4",
                           n=5)  # fmt: skip
        sent = fake_graph.wait_for_sent(1, timeout=60)
        calls = server.requests_to("/v1/audio/transcriptions")
    assert sent[0]["json"]["text"]["body"] == VOICE_REPLY
    assert len(calls) == 1 and calls[0].body["model"] == settings.OPENAI_TRANSCRIPTION_MODEL
    note = Message.objects.get(provider_message_id=wamid)
    assert (note.transcription, note.data["enrichment"]["backend"]) == ("감사합니다", "openai")
    celery_settled(redis_client)
    assert len(fake_graph.sent) == 1


def test_without_a_model_a_voice_note_is_marked_gets_the_fallback_and_agents_are_told(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, redis_client: Any, thanks_rule: Any, settings: Any,
    audio_samples: Any, tmp_path: Any,
) -> None:  # fmt: skip
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(tmp_path / "no-model-here")
    settings.VOSK_MODEL_DOWNLOAD = False
    wamid = post_media(fake_graph, audio_samples.encoded["ogg"].read_bytes(), kind="audio", mime_type="audio/ogg",
                       n=6)  # fmt: skip

    sent = fake_graph.wait_for_sent(1, timeout=30)
    assert sent[0]["json"]["text"]["body"] == "¿En qué te ayudo?"
    note = Message.objects.get(provider_message_id=wamid)
    assert (note.enrichment_state, note.enrichment_reason) == ("unavailable", "no_model")
    conversation = note.conversation.__class__.objects.get(pk=note.conversation_id)
    assert conversation.needs_attention
    assert conversation.attention_reason == "A voice note could not be transcribed: listen to it."
