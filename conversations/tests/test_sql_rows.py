"""The hot path's plain-SQL row writes (services.sql.row_insert / row_update) store what save() would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Channel, Contact, Conversation, Message
from conversations.services.sql import row_insert, row_update

pytestmark = pytest.mark.django_db


def _conversation() -> Conversation:
    channel = Channel.objects.create(provider="meta", name="Ventas", external_id="106540352242922")
    contact = Contact.objects.create(provider="meta", external_id="573001112233")
    return Conversation.objects.create(contact=contact, channel=channel)


def _fields(message: Message) -> dict[str, Any]:
    skip = {"id", "created_at", "updated_at"}
    return {f.attname: getattr(message, f.attname) for f in Message._meta.concrete_fields if f.name not in skip}


def test_row_insert_stores_the_same_row_as_save_with_defaults_json_and_timestamps() -> None:
    conversation = _conversation()
    values = {"direction": "in", "kind": "text", "text": "hola <b>", "data": {"rules": [1], "ñ": "á"}, "raw": [1]}
    by_orm = Message.objects.create(conversation=conversation, provider="meta", provider_message_id="a", **values)
    before = timezone.now()
    by_sql = Message(conversation=conversation, provider="meta", provider_message_id="b", **values)
    row_insert(by_sql)
    assert by_sql.pk and not by_sql._state.adding
    stored_orm, stored_sql = Message.objects.get(pk=by_orm.pk), Message.objects.get(pk=by_sql.pk)
    assert {**_fields(stored_sql), "provider_message_id": "a"} == _fields(stored_orm)
    assert stored_sql.created_at >= before - timedelta(seconds=1) and stored_sql.updated_at == by_sql.updated_at


def test_row_update_writes_only_the_given_fields_and_updated_at() -> None:
    message = Message.objects.create(conversation=_conversation(), direction="in", kind="text", text="uno")
    stale = Message.objects.get(pk=message.pk)
    message.data, message.text = {"rules": [7]}, "changed only in memory"
    earlier = message.updated_at
    with CaptureQueriesContext(connection) as queries:
        row_update(message, ["data"])
    assert len(queries) == 1 and queries[0]["sql"].startswith("UPDATE")
    stored = Message.objects.get(pk=message.pk)
    assert stored.data == {"rules": [7]} and stored.text == "uno"  # text was not in the fields
    assert stored.updated_at == message.updated_at > earlier
    assert stale.text == "uno"


def test_save_receivers_get_what_save_sends_them() -> None:
    """A chat's closing is recorded by a post_save receiver (analytics): plain-SQL writes send the
    pre_save and post_save signals with the same arguments as save(), in one statement each."""
    from django.db.models.signals import post_save, pre_save

    def record(store: list[Any]) -> Any:
        def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
            store.append((sender, instance.pk, {k: v for k, v in kwargs.items() if k != "signal"}))

        return receiver

    by_save: list[Any] = []
    by_sql: list[Any] = []
    for n, store in enumerate((by_save, by_sql)):
        receiver = record(store)
        pre_save.connect(receiver, sender=Contact, dispatch_uid="test-row-pre")
        post_save.connect(receiver, sender=Contact, dispatch_uid="test-row-post")
        try:
            contact = Contact(provider="meta", external_id=f"57300999887{n}")
            if store is by_save:
                contact.save(force_insert=True)
                contact.alias = "Doña Ana"
                contact.save(update_fields=["alias", "updated_at"])
            else:
                with CaptureQueriesContext(connection) as queries:
                    row_insert(contact)
                    contact.alias = "Doña Ana"
                    row_update(contact, ["alias"])
                assert len(queries) == 2
        finally:
            pre_save.disconnect(sender=Contact, dispatch_uid="test-row-pre")
            post_save.disconnect(sender=Contact, dispatch_uid="test-row-post")
        assert Contact.objects.get(pk=contact.pk).alias == "Doña Ana"

    def shape(store: list[Any]) -> list[Any]:
        return [(sender, kwargs) for sender, _, kwargs in store]

    assert shape(by_sql) == shape(by_save)
    assert [kwargs.get("created") for _, _, kwargs in by_sql] == [None, True, None, False]
    assert by_sql[-1][2]["update_fields"] == frozenset({"alias", "updated_at"})


def test_a_chat_closed_by_a_plain_sql_write_is_recorded_for_the_dashboard() -> None:
    from analytics.models import ConversationClosing

    conversation = _conversation()
    conversation.status = "closed"
    row_update(conversation, ["status"])
    assert ConversationClosing.objects.filter(conversation=conversation).count() == 1


def test_models_that_override_save_are_saved_through_it() -> None:
    from flows.models import Rule

    rule = Rule(step="inicio", input_text="hola", response_text="¡Hola!")
    row_insert(rule)
    assert Rule.objects.get(pk=rule.pk).key == rule.key != ""  # Rule.save gives each rule its key


def test_model_from_row_builds_the_instances_the_orm_would_from_a_joined_row() -> None:
    from conversations.services.sql import model_columns, model_from_row

    conversation = _conversation()
    Conversation.objects.filter(pk=conversation.pk).update(
        bot_paused=True, needs_attention=True, last_activity_at=timezone.now(), unread_count=3
    )
    Contact.objects.filter(pk=conversation.contact_id).update(referral={"source_url": "https://fb.me/x"}, alias="Ana")
    table, contacts = (
        connection.ops.quote_name("conversations_conversation"),
        connection.ops.quote_name("conversations_contact"),
    )
    sql = (
        f"SELECT {model_columns(Conversation)}, {model_columns(Contact)} FROM {table} INNER JOIN {contacts}"  # noqa: S608
        f" ON {table}.{connection.ops.quote_name('contact_id')} = {contacts}.{connection.ops.quote_name('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    built, after = model_from_row(Conversation, row)
    built_contact, end = model_from_row(Contact, row, after)
    assert end == len(row)
    expected = Conversation.objects.select_related("contact").get(pk=conversation.pk)

    def values(instance: Any) -> dict[str, Any]:
        return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}

    assert values(built) == values(expected)
    assert values(built_contact) == values(expected.contact)
    assert built.bot_paused is True and built_contact.referral == {"source_url": "https://fb.me/x"}
    assert not built._state.adding


def test_model_from_row_with_some_fields_defers_the_others() -> None:
    from conversations.models import WebhookDelivery
    from conversations.services.sql import model_columns, model_from_row

    delivery = WebhookDelivery.objects.create(provider="meta", body=b'{"a": 1}', headers={"X": "1"}, signature_ok=True)
    fields = ("id", "body", "state", "next_attempt_at")
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {model_columns(WebhookDelivery, fields)} FROM {table}")  # noqa: S608
        row = cursor.fetchone()
    built, end = model_from_row(WebhookDelivery, row, fields=fields)
    assert end == 4 and built.pk == delivery.pk and bytes(built.body) == b'{"a": 1}' and built.next_attempt_at is None
    assert built.get_deferred_fields() >= {"headers", "provider"}
