"""Processing inbound messages: media downloads, the bot's answer through the rule flows, human take-over."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest
from django.conf import settings as django_settings

from conftest import load_fixture
from conversations.models import Conversation, Message
from conversations.services.ingest import delivery_process, delivery_record
from conversations.services.outbound import conversation_flush_outbound
from conversations.services.processing import conversation_process
from whatsapp_ia.demo import demo_flow_load

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0" + b"fake-jpeg-bytes" * 100


@pytest.fixture
def receive(meta_settings: Any, fake_graph: Any) -> Any:
    """Deliver a payload as the webhook + tasks would, then process the conversation and flush replies."""

    def run(payload: dict) -> Conversation:
        delivery = delivery_record(provider="meta", body=json.dumps(payload).encode(), headers={}, signature_ok=True)
        delivery_process(delivery_id=delivery.pk)
        conversation = Conversation.objects.get(contact__external_id=_from(payload))
        conversation_process(conversation_id=conversation.pk)
        conversation_flush_outbound(conversation_id=conversation.pk)
        conversation.refresh_from_db()
        return conversation

    return run


def _from(payload: dict) -> str:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]


def text_payload(text: str, *, n: int, wa_id: str = "573001112233") -> dict:
    payload = load_fixture("meta", "message__text")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = f"wamid.TEST{n:04d}"
    message["text"]["body"] = text
    message["from"] = wa_id
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = wa_id
    return payload


def image_payload(content: bytes, *, media_id: str = "1013859600285441") -> dict:
    payload = load_fixture("meta", "message__image_with_caption")
    image = payload["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    image["id"] = media_id
    image["sha256"] = base64.b64encode(hashlib.sha256(content).digest()).decode()
    return payload


def test_the_bot_answers_a_new_customer_with_the_initial_step(receive: Any, fake_graph: Any) -> None:
    demo_flow_load()
    conversation = receive(text_payload("hola", n=1))
    assert conversation.step == "menu"
    sent = fake_graph.sent
    assert len(sent) == 1
    body = sent[0]["json"]
    assert body["type"] == "interactive" and body["interactive"]["type"] == "button"
    assert [b["reply"]["title"] for b in body["interactive"]["action"]["buttons"]] == [
        "Cotizar mesón",
        "Ver catálogo",
        "Hablar con asesor",
    ]
    reply = Message.objects.get(direction="out")
    assert reply.rule is not None and reply.rule.step == "inicio"
    assert Message.objects.get(direction="in").processing_state == "done"


def test_a_conversation_goes_through_the_flow_with_the_countertop_handler(receive: Any, fake_graph: Any) -> None:
    demo_flow_load()
    receive(text_payload("hola", n=1))
    receive(text_payload("cotizar", n=2))
    conversation = receive(text_payload("2,4 x 0,6 m", n=3))
    texts = [s["json"].get("text", {}).get("body", "") for s in fake_graph.sent]
    assert "1,44 m²" in texts[-1] and "$604.800" in texts[-1]
    assert conversation.step == "visita"
    assert set(conversation.roles.values_list("keyword", flat=True)) == {"ventas"}


def test_global_command_talk_to_a_human_pauses_the_bot(receive: Any, fake_graph: Any) -> None:
    demo_flow_load()
    receive(text_payload("hola", n=1))
    conversation = receive(text_payload("asesor", n=2))
    assert conversation.bot_paused and conversation.status == "human"
    count = len(fake_graph.sent)
    receive(text_payload("¿hola? ¿alguien?", n=3))
    assert len(fake_graph.sent) == count  # silent while a human has the chat
    conversation = receive(text_payload("menu", n=4))
    assert not conversation.bot_paused and conversation.status == "bot"
    assert conversation.step == "menu"
    # "menu" answers as a new chat would: the initial step's buttons again.
    assert fake_graph.sent[-1]["json"]["interactive"]["type"] == "button"


def test_no_matching_rule_sends_the_fallback_and_flags_the_chat(receive: Any, fake_graph: Any, settings: Any) -> None:
    from flows.tests import factories  # conversations imports flows nowhere at module level

    factories.rule(step="inicio", input_text="hola", response_text="¡Hola!", next_step="inicio")
    conversation = receive(text_payload("quiero un unicornio", n=1))
    assert fake_graph.sent[0]["json"]["text"]["body"] == settings.FLOW_FALLBACK_MESSAGE
    assert conversation.needs_attention
    assert Message.objects.get(direction="in").data["unmatched"] is True


def test_inbound_media_is_downloaded_and_stored_under_media_root(receive: Any, fake_graph: Any) -> None:
    fake_graph.add_media("1013859600285441", JPEG, "image/jpeg")
    conversation = receive(image_payload(JPEG))
    message = Message.objects.get(direction="in")
    assert message.media_state == "stored", message.media_error
    assert message.media_size == len(JPEG)
    name = message.media_file.name
    assert re.fullmatch(rf"{conversation.channel_id}/\d{{4}}/\d{{2}}/[0-9a-f]{{32}}\.jpg", name), name
    assert (django_settings.MEDIA_ROOT / name).read_bytes() == JPEG
    assert message.media_original_url.startswith(fake_graph.base_url)


def test_too_large_media_is_marked_not_stored(receive: Any, fake_graph: Any, settings: Any) -> None:
    settings.MEDIA_MAX_BYTES = 100
    fake_graph.add_media("1013859600285441", JPEG, "image/jpeg")
    receive(image_payload(JPEG))
    message = Message.objects.get(direction="in")
    assert message.media_state == "failed"
    assert "large" in message.media_error.lower() or "limit" in message.media_error.lower()
    assert message.processing_state == "done"  # the conversation goes on


def test_unknown_media_id_is_marked_after_the_lookup_fails(receive: Any) -> None:
    receive(image_payload(JPEG, media_id="999999"))
    message = Message.objects.get(direction="in")
    assert message.media_state == "failed"
    assert message.media_error


def test_forbidden_media_types_are_refused(receive: Any, fake_graph: Any, settings: Any) -> None:
    settings.MEDIA_ALLOWED_MIME_PREFIXES = ["audio/"]
    fake_graph.add_media("1013859600285441", JPEG, "image/jpeg")
    receive(image_payload(JPEG))
    message = Message.objects.get(direction="in")
    assert message.media_state == "failed" and "not accepted" in message.media_error


def test_messages_of_one_conversation_are_processed_in_order(meta_settings: Any, fake_graph: Any) -> None:
    demo_flow_load()
    for n, text in enumerate(["hola", "cotizar", "2.4x0.6"], start=1):
        delivery = delivery_record(
            provider="meta", body=json.dumps(text_payload(text, n=n)).encode(), headers={}, signature_ok=True
        )
        delivery_process(delivery_id=delivery.pk)
    conversation = Conversation.objects.get()
    conversation_process(conversation_id=conversation.pk)  # one run drains all three, oldest first
    conversation.refresh_from_db()
    assert conversation.step == "visita"
    assert list(Message.objects.filter(direction="in").values_list("processing_state", flat=True)) == ["done"] * 3
