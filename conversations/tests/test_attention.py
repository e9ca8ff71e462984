"""A reply that could not be sent flags its chat, with a reason people read, on the home page and in the admin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from accounts.models import User
from conversations.models import Conversation, Message
from conversations.providers.base import OutboundMessage, StatusUpdate
from conversations.selectors import console_summary
from conversations.services import attention
from conversations.services.ingest import status_apply
from conversations.services.outbound import conversation_flush_outbound, message_queue_outbound
from conversations.tests.conftest import PHONE_NUMBER_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(open_conversation: Conversation, settings: Any) -> Conversation:
    settings.OUTBOUND_BACKOFF_BASE_SECONDS = 1.0
    settings.OUTBOUND_MAX_ATTEMPTS = 3
    open_conversation.last_activity_at = timezone.now()
    open_conversation.save(update_fields=["last_activity_at"])
    return open_conversation


@pytest.fixture
def boss() -> User:
    return User.objects.create_superuser(username="jefe", password="clave-jefe-123")


def queue(conversation: Conversation, text: str = "Hola") -> Message:
    return message_queue_outbound(conversation=conversation, outbound=OutboundMessage(kind="text", to="", text=text))


def in_spanish(client: Client) -> Client:
    client.cookies["django_language"] = "es"
    return client


def test_a_send_without_a_token_flags_the_chat_with_the_reason(conversation: Conversation, settings: Any) -> None:
    settings.META_TOKEN = ""
    message = queue(conversation)

    conversation_flush_outbound(conversation_id=conversation.pk)

    message.refresh_from_db()
    conversation.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "config")
    assert conversation.needs_attention is True
    assert conversation.attention_reason == attention.REASON_SEND_NO_TOKEN
    with translation.override("es"):
        assert "token de acceso" in attention.attention_reason_text(conversation.attention_reason)


def test_a_send_that_used_every_retry_flags_the_chat(conversation: Conversation, fake_graph: Any) -> None:
    fake_graph.fail_next(10, http_status=500, code=131000)
    message = queue(conversation)
    for _ in range(3):
        conversation_flush_outbound(conversation_id=conversation.pk)
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    message.refresh_from_db()
    conversation.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 3)
    assert conversation.needs_attention is True
    assert conversation.attention_reason == attention.REASON_SEND_RETRIES


def test_a_retry_still_pending_does_not_flag_the_chat(conversation: Conversation, fake_graph: Any) -> None:
    fake_graph.fail_next(1, http_status=500, code=131000)
    queue(conversation)

    conversation_flush_outbound(conversation_id=conversation.pk)

    conversation.refresh_from_db()
    assert conversation.needs_attention is False
    assert conversation.attention_reason == ""


def test_a_failed_status_from_the_provider_flags_the_chat(conversation: Conversation, fake_graph: Any) -> None:
    message = queue(conversation)
    conversation_flush_outbound(conversation_id=conversation.pk)
    message.refresh_from_db()

    status_apply(
        provider="meta",
        event=StatusUpdate(
            provider_message_id=message.provider_message_id,
            channel_external_id=PHONE_NUMBER_ID,
            timestamp=timezone.now(),
            status="failed",
            error_code="131026",
            error_title="Message undeliverable",
        ),
    )

    conversation.refresh_from_db()
    assert conversation.needs_attention is True
    assert conversation.attention_reason == attention.REASON_SEND_UNDELIVERABLE


@pytest.mark.parametrize(
    ("code", "attempts", "reason"),
    [
        ("config", 1, attention.REASON_SEND_NO_TOKEN),
        ("190", 1, attention.REASON_SEND_BAD_TOKEN),
        ("131047", 1, attention.REASON_SEND_WINDOW),
        ("validation", 1, attention.REASON_SEND_INVALID),
        ("131000", 3, attention.REASON_SEND_RETRIES),
        ("network", 3, attention.REASON_SEND_RETRIES),
        ("368", 1, attention.REASON_SEND_REFUSED),
        ("", 0, attention.REASON_SEND_REFUSED),
    ],
)
def test_send_failure_reasons(code: str, attempts: int, reason: str) -> None:
    assert attention.send_failure_reason(code=code, attempts=attempts, max_attempts=3) == reason


def test_every_known_reason_is_translated_to_spanish() -> None:
    reasons = [value for name, value in vars(attention).items() if name.startswith("REASON_")]
    with translation.override("es"):
        untranslated = [r for r in reasons if attention.attention_reason_text(r) == r]
    assert untranslated == []


def test_a_reason_that_is_not_a_known_sentence_is_shown_as_stored() -> None:
    with translation.override("es"):
        assert attention.attention_reason_text("Free text from an agent") == "Free text from an agent"
        assert attention.attention_reason_text("") == ""


def test_the_console_counts_and_explains_a_failed_reply(
    conversation: Conversation, settings: Any, client: Client, boss: User
) -> None:
    settings.META_TOKEN = ""
    queue(conversation)
    conversation_flush_outbound(conversation_id=conversation.pk)

    assert console_summary(user=boss)["needs_attention"] == 1
    client.force_login(boss)
    in_spanish(client)
    assert "Requiere atención" in client.get("/").content.decode()  # the console's filter
    # what the console's list shows (flag, reason in Spanish) and its "needs attention" filter
    rows = client.get("/api/conversations/?attention=1").json()["results"]
    assert [row["id"] for row in rows] == [conversation.pk]
    assert rows[0]["needs_attention"] is True
    assert "No se pudo enviar una respuesta: el canal no tiene token de acceso" in rows[0]["attention_reason"]


def test_the_conversation_and_message_pages_explain_a_failed_reply(
    conversation: Conversation, settings: Any, client: Client, boss: User
) -> None:
    settings.META_TOKEN = ""
    message = queue(conversation)
    conversation_flush_outbound(conversation_id=conversation.pk)
    client.force_login(boss)
    in_spanish(client)

    page = client.get(f"/admin/conversations/conversation/{conversation.pk}/change/").content.decode()
    assert "No se pudo enviar una respuesta: el canal no tiene token de acceso" in page
    assert "Fallido" in page

    page = client.get(f"/admin/conversations/message/{message.pk}/change/").content.decode()
    assert "No se pudo enviar una respuesta: el canal no tiene token de acceso" in page
    assert "Detalle del proveedor" in page
    assert "has no access token" in page  # the raw provider error, kept as detail

    client.cookies["django_language"] = "en"
    page = client.get(f"/admin/conversations/message/{message.pk}/change/").content.decode()
    assert "A reply could not be sent: the channel has no access token" in page


def test_clearing_the_flag_in_the_admin_clears_the_reason(conversation: Conversation) -> None:
    from django.contrib.admin.sites import site

    conversation.needs_attention = False
    conversation.attention_reason = attention.REASON_SEND_NO_TOKEN
    site._registry[Conversation].save_model(request=None, obj=conversation, form=None, change=True)

    conversation.refresh_from_db()
    assert conversation.attention_reason == ""
