"""The bots' registries: enrichment steps run before the responders, responders in order, one may end the turn."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def transcriber() -> Iterator[list[int]]:
    """An enrichment step as voice will add: it 'transcribes' every voice note to "hola"."""
    seen: list[int] = []

    def transcribe(*, message: Message) -> None:
        seen.append(message.pk)
        if message.kind == "audio" and not message.transcription:
            message.transcription = "hola"
            message.save(update_fields=["transcription", "updated_at"])

    bots.enrichment_register("test_transcriber", transcribe, 10)
    yield seen
    bots.enrichment_unregister("test_transcriber")


def test_the_apps_register_the_rules_then_the_ai() -> None:
    assert [r.name for r in bots.responders()] == ["flows", bots.AI_RESPONDER]
    assert bots.enrichments() == ()


def test_an_enrichment_step_runs_before_the_responders_read_the_message(
    conversation: Conversation, hola_rule: Any, transcriber: list[int]
) -> None:
    voice_note = _inbound(conversation, kind="audio")

    conversation_process(conversation_id=conversation.pk)

    assert transcriber == [voice_note.pk]
    assert _replies(conversation) == ["¡Hola! ¿En qué te ayudo?"]  # the rules read the transcription
    conversation.refresh_from_db()
    assert conversation.step == "menu"


def test_enrichment_steps_run_in_their_order(conversation: Conversation, transcriber: list[int]) -> None:
    order: list[str] = []
    bots.enrichment_register("z_first", lambda *, message: order.append("first"), 1)
    bots.enrichment_register("a_last", lambda *, message: order.append("last"), 99)
    try:
        _inbound(conversation, text="hola")
        conversation_process(conversation_id=conversation.pk)
    finally:
        bots.enrichment_unregister("z_first")
        bots.enrichment_unregister("a_last")
    assert order == ["first", "last"]
    assert [e.name for e in bots.enrichments()] == ["test_transcriber"]


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
