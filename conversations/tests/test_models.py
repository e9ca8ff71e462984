"""Model constraints that keep data right: idempotent message ids, one chat per contact and channel, encryption."""

import pytest
from django.db import IntegrityError, connection, transaction

from conversations.models import Channel, Contact, Conversation, Message

pytestmark = pytest.mark.django_db


def _message(conversation: Conversation, provider_message_id: str | None, provider: str = "meta") -> Message:
    return Message.objects.create(
        conversation=conversation,
        direction="in",
        kind="text",
        text="hola",
        provider=provider,
        provider_message_id=provider_message_id,
    )


def test_duplicate_provider_message_id_is_rejected(conversation: Conversation) -> None:
    _message(conversation, "wamid.ABC")
    with pytest.raises(IntegrityError), transaction.atomic():
        _message(conversation, "wamid.ABC")
    assert Message.objects.filter(provider_message_id="wamid.ABC").count() == 1


def test_same_id_from_another_provider_is_a_different_message(conversation: Conversation) -> None:
    _message(conversation, "id-1", provider="meta")
    _message(conversation, "id-1", provider="ycloud")
    assert Message.objects.filter(provider_message_id="id-1").count() == 2


def test_queued_outbound_messages_without_an_id_coexist(conversation: Conversation) -> None:
    _message(conversation, None)
    _message(conversation, None)
    assert Message.objects.filter(provider_message_id__isnull=True).count() == 2


def test_one_conversation_per_contact_and_channel(conversation: Conversation) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.create(contact=conversation.contact, channel=conversation.channel)


def test_contact_external_id_unique_per_provider(conversation: Conversation) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(provider="meta", external_id="573001112233")
    Contact.objects.create(provider="chatwoot", external_id="573001112233")


def test_channel_credentials_are_encrypted_at_rest() -> None:
    channel = Channel.objects.create(
        name="Principal", provider="meta", external_id="1", access_token="EAAG-very-secret", app_secret="shh"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, app_secret FROM conversations_channel WHERE id = %s", [channel.pk])
        stored_token, stored_secret = cursor.fetchone()
    assert "EAAG-very-secret" not in stored_token and stored_token.startswith("fernet:")
    assert "shh" not in stored_secret
    reloaded = Channel.objects.get(pk=channel.pk)
    assert reloaded.access_token == "EAAG-very-secret"
    assert reloaded.app_secret == "shh"


def test_indexes_for_console_webhook_and_analytics_exist() -> None:
    with connection.cursor() as cursor:
        message_indexes = connection.introspection.get_constraints(cursor, "conversations_message")
        conversation_indexes = connection.introspection.get_constraints(cursor, "conversations_conversation")
    message_columns = {tuple(c["columns"]) for c in message_indexes.values()}
    conversation_columns = {tuple(c["columns"]) for c in conversation_indexes.values()}
    assert ("conversation_id", "created_at", "direction", "kind") in message_columns
    assert ("provider", "provider_message_id") in message_columns
    assert ("step",) in conversation_columns
    assert any(cols[0] == "status" for cols in conversation_columns)
