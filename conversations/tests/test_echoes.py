"""Echoes of the business side's own messages and the provider's conversation states (services level).

The provider-specific parsing that produces these events is tested with each provider; here the events
are built directly and applied the way a webhook delivery applies them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conversations.models import Channel, Contact, Conversation, Message
from conversations.providers.base import (
    ECHO_AGENT,
    ECHO_API,
    ECHO_NOTE,
    ECHO_PLATFORM,
    THREAD_OPEN,
    THREAD_RESOLVED,
    OutboundEcho,
    ThreadStatus,
)
from conversations.services import echoes

pytestmark = pytest.mark.django_db

INBOX = "7"
CONTACT = "501"


@pytest.fixture
def chat() -> Conversation:
    channel = Channel.objects.create(name="Instagram", provider="chatwoot", external_id=INBOX)
    contact = Contact.objects.create(provider="chatwoot", external_id=CONTACT, profile_name="Sofía")
    return Conversation.objects.create(
        contact=contact, channel=channel, step="inicio", platform="instagram", provider_thread_id="42"
    )


def echo(message_id: str, *, origin: str = ECHO_API, text: str = "Hola, ¿en qué te ayudo?", **kw: Any) -> OutboundEcho:
    return OutboundEcho(
        provider_message_id=message_id,
        channel_external_id=INBOX,
        contact_external_id=CONTACT,
        origin=origin,
        text=text,
        thread_id="42",
        **kw,
    )


def reply(chat: Conversation, *, text: str = "Hola, ¿en qué te ayudo?", **fields: Any) -> Message:
    return Message.objects.create(
        conversation=chat, direction="out", kind="text", text=text, provider="chatwoot", **fields
    )


def test_the_echo_of_a_reply_we_sent_is_recognised_by_its_id_and_changes_nothing(chat: Conversation) -> None:
    ours = reply(chat, provider_message_id="9001", status="sent")
    assert echoes.echo_apply(provider="chatwoot", event=echo("9001")) == echoes.OURS
    assert Message.objects.count() == 1
    assert Message.objects.get(pk=ours.pk).status == "sent"
    chat.refresh_from_db()
    assert not chat.bot_paused


def test_an_echo_that_outruns_our_send_answer_gives_the_sending_reply_its_id(chat: Conversation) -> None:
    sending = reply(chat, status="sending")
    assert echoes.echo_apply(provider="chatwoot", event=echo("9002")) == echoes.LINKED
    sending.refresh_from_db()
    assert sending.provider_message_id == "9002"
    assert sending.status == "sent"
    assert Message.objects.count() == 1  # nothing stored twice: the send's own answer then finds the same id


def test_an_echo_with_other_text_is_not_taken_for_our_sending_reply(chat: Conversation) -> None:
    sending = reply(chat, status="sending", text="Tu pedido sale mañana")
    assert echoes.echo_apply(provider="chatwoot", event=echo("9003", origin=ECHO_AGENT)) == echoes.STORED
    sending.refresh_from_db()
    assert sending.provider_message_id is None
    assert sending.status == "sending"


def test_a_reply_older_than_the_window_is_not_matched(chat: Conversation) -> None:
    old = reply(chat, status="queued")
    before = timezone.now() - echoes.ECHO_MATCH_WINDOW - timedelta(seconds=1)
    Message.objects.filter(pk=old.pk).update(created_at=before)
    assert echoes.echo_apply(provider="chatwoot", event=echo("9004", origin=ECHO_AGENT)) == echoes.STORED


@pytest.mark.parametrize("origin", [ECHO_AGENT, ECHO_PLATFORM])
def test_a_message_typed_outside_our_console_is_kept_and_the_bot_steps_back(chat: Conversation, origin: str) -> None:
    event = echo("9005", origin=origin, text="Te escribo yo, soy Ana", sender_name="Ana", sender_type="user")
    assert echoes.echo_apply(provider="chatwoot", event=event) == echoes.STORED
    stored = Message.objects.get(provider_message_id="9005")
    assert (stored.direction, stored.status, stored.text) == ("out", "sent", "Te escribo yo, soy Ana")
    assert stored.data["echo"] == {"origin": origin, "sender": "Ana", "sender_type": "user"}
    chat.refresh_from_db()
    assert chat.bot_paused and chat.status == "human"
    assert chat.last_message_preview == "Te escribo yo, soy Ana"
    # The same echo again (a redelivery) stores nothing more.
    assert echoes.echo_apply(provider="chatwoot", event=event) == echoes.OURS
    assert Message.objects.filter(provider_message_id="9005").count() == 1


def test_another_integration_posting_through_the_api_is_kept_without_pausing_the_bot(chat: Conversation) -> None:
    assert echoes.echo_apply(provider="chatwoot", event=echo("9006", origin=ECHO_API, text="Encuesta")) == echoes.STORED
    chat.refresh_from_db()
    assert not chat.bot_paused


def test_a_private_note_is_never_stored_or_answered(chat: Conversation) -> None:
    note = echo("9007", origin=ECHO_NOTE, text="cliente VIP")
    assert echoes.echo_apply(provider="chatwoot", event=note) == echoes.NOTE
    assert not Message.objects.exists()


def test_an_echo_for_a_chat_we_do_not_have_is_ignored(chat: Conversation) -> None:
    event = OutboundEcho(
        provider_message_id="9008", channel_external_id=INBOX, contact_external_id="999", origin=ECHO_AGENT
    )
    assert echoes.echo_apply(provider="chatwoot", event=event) == echoes.NO_CHAT
    assert not Message.objects.exists()


def status(value: str, *, thread_id: str = "42") -> ThreadStatus:
    return ThreadStatus(channel_external_id=INBOX, contact_external_id=CONTACT, thread_id=thread_id, status=value)


def test_resolving_the_conversation_in_chatwoot_closes_ours_and_reopening_reopens_it(chat: Conversation) -> None:
    assert echoes.thread_status_apply(provider="chatwoot", event=status(THREAD_RESOLVED))
    chat.refresh_from_db()
    assert chat.status == "closed"
    assert echoes.thread_status_apply(provider="chatwoot", event=status(THREAD_OPEN))
    chat.refresh_from_db()
    assert chat.status == "bot"


def test_an_older_chatwoot_conversation_being_resolved_leaves_ours_open(chat: Conversation) -> None:
    assert echoes.thread_status_apply(provider="chatwoot", event=status(THREAD_RESOLVED, thread_id="17"))
    chat.refresh_from_db()
    assert chat.status == "bot"


def test_a_status_for_a_chat_we_do_not_have_says_so(chat: Conversation) -> None:
    event = ThreadStatus(channel_external_id=INBOX, contact_external_id="999", thread_id="1", status=THREAD_RESOLVED)
    assert echoes.thread_status_apply(provider="chatwoot", event=event) is False


def test_an_unmatched_echo_waits_while_a_reply_of_ours_is_being_sent_then_is_kept(chat: Conversation) -> None:
    """The reply may be ours with text the provider rendered its own way: asked again once the send answered."""
    reply(chat, status="sending", text="Elegí una opción")
    event = echo("9009", origin=ECHO_AGENT, text="Elegí una opción\n1. Precios\n2. Horarios")
    assert echoes.echo_apply(provider="chatwoot", event=event, final=False) == echoes.WAIT
    assert not Message.objects.filter(provider_message_id="9009").exists()
    chat.refresh_from_db()
    assert not chat.bot_paused
    # Our send answered with that id meanwhile: the next look recognises it as ours.
    Message.objects.filter(provider_message_id__isnull=True).update(provider_message_id="9009", status="sent")
    assert echoes.echo_apply(provider="chatwoot", event=event, final=False) == echoes.OURS


def test_a_delivery_whose_echo_waits_is_parsed_again_and_the_last_try_keeps_it(
    chat: Conversation, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    """Through the delivery path: the echo waits (retried like an early status), then is kept on the last try."""
    import json

    from conversations.fakes.chatwoot import ChatwootWebhooks
    from conversations.services.ingest import STATUS_RETRY_DELAYS, delivery_process, delivery_record

    settings.CELERY_TASK_ALWAYS_EAGER = False
    reply(chat, status="sending", text="Elegí una opción")
    hooks = ChatwootWebhooks(inbox_id=int(INBOX), contact_id=int(CONTACT), conversation_id=42)
    payload = hooks.agent_reply("Hola, soy Marta", message_id=9010)
    delivery = delivery_record(provider="chatwoot", body=json.dumps(payload).encode(), headers={}, signature_ok=True)
    with django_capture_on_commit_callbacks() as callbacks:
        delivery_process(delivery_id=delivery.pk)
    assert len(callbacks) == 1  # parsed again later
    assert not Message.objects.filter(provider_message_id="9010").exists()
    delivery_process(delivery_id=delivery.pk, attempt=len(STATUS_RETRY_DELAYS))
    assert Message.objects.get(provider_message_id="9010").text == "Hola, soy Marta"
