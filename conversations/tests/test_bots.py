"""The bots' registries: the enrichment step of each media kind, responders in order, one may end the turn."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation, Message
from conversations.services import bots
from conversations.services.processing import conversation_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def hola_rule() -> Any:
    from flows.models import Rule

    return Rule.objects.create(
        step="inicio", input_text="hola", response_text="¡Hola! ¿En qué te ayudo?", next_step="menu"
    )


def _inbound(conversation: Conversation, *, kind: str = "text", text: str = "", n: int = 1) -> Message:
    return Message.objects.create(
        conversation=conversation, direction="in", kind=kind, text=text, provider="meta",
        provider_message_id=f"wamid.BOTS{n:04d}", processing_state="pending",
    )  # fmt: skip


def _replies(conversation: Conversation) -> list[str]:
    return list(Message.objects.filter(conversation=conversation, direction="out").values_list("text", flat=True))


def test_the_apps_register_the_rules_then_the_ai_and_conversations_its_enrichments() -> None:
    assert [r.name for r in bots.responders()] == ["flows", bots.AI_RESPONDER]
    assert [(e.name, sorted(e.kinds), e.field) for e in bots.enrichments()] == [
        ("transcription", ["audio"], "transcription"),
        ("description", ["image"], "image_description"),
    ]
    assert bots.enrichment_for("audio").name == "transcription"
    assert bots.enrichment_for("text") is None


def test_a_responder_before_the_rules_can_end_the_turn(conversation: Conversation, hola_rule: Any) -> None:
    answered: list[str] = []

    def opt_out(*, conversation: Conversation, message: Message) -> bool:
        if message.text == "hola":
            answered.append(message.text)
            return True  # the rules, after it, do not answer
        return False

    bots.responder_register("test_opt_out", opt_out, 50)
    try:
        _inbound(conversation, text="hola")
        conversation_process(conversation_id=conversation.pk)
    finally:
        bots.responder_unregister("test_opt_out")
    assert answered == ["hola"]
    assert _replies(conversation) == []
    assert [r.name for r in bots.responders()] == ["flows", bots.AI_RESPONDER]
