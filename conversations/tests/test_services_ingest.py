"""From a stored delivery to messages, contacts, conversations and status ticks — idempotently."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conftest import load_fixture, load_fixture_bytes
from conversations.models import Channel, Contact, Conversation, DeliveryState, Message, WebhookDelivery
from conversations.services.ingest import delivery_process, delivery_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def ingest(meta_settings: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """Store a fixture as a delivery and process it as the task would; returns (delivery, enqueued callbacks)."""

    def run(name_or_body: str | bytes) -> tuple[WebhookDelivery, list]:
        body = name_or_body if isinstance(name_or_body, bytes) else load_fixture_bytes("meta", name_or_body)
        delivery = delivery_record(provider="meta", body=body, headers={}, signature_ok=True)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            delivery = delivery_process(delivery_id=delivery.pk)
        return delivery, callbacks

    return run


@pytest.mark.parametrize(
    ("fixture", "kind", "expect"),
    [
        ("message__text", "text", {"text": "Hola, ¿tienen turnos para mañana a la tarde?"}),
        ("message__text_with_context", "text", {"reply_to": True}),
        ("message__interactive_button_reply", "interactive", {"interactive_id": True}),
        ("message__interactive_list_reply", "interactive", {"interactive_id": True}),
        ("message__button_template_quick_reply", "button", {"interactive_id": True}),
        ("message__image_with_caption", "image", {"media": "image/jpeg", "caption": True}),
        ("message__audio_voice_note", "audio", {"media": "audio/ogg"}),
        ("message__video", "video", {"media": "video/mp4"}),
        ("message__document", "document", {"media": "application/pdf"}),
        ("message__sticker", "sticker", {"media": "image/webp"}),
        ("message__location", "location", {"data": "latitude"}),
        ("message__contacts", "contacts", {"data": "contacts"}),
        ("message__reaction", "reaction", {"data": "emoji"}),
        ("message__referral_ctwa", "text", {"referral": True}),
        ("message__system", "system", {}),
        ("message__unsupported", "unsupported", {"data": "errors"}),
        ("message__unknown_type", "unsupported", {"data": "unknown_type"}),
        ("message__bsuid_no_wa_id", "text", {}),
    ],
)
def test_every_message_type_is_stored(ingest: Any, fixture: str, kind: str, expect: dict) -> None:
    delivery, callbacks = ingest(fixture)
    message = Message.objects.get(direction="in")
    assert message.kind == kind
    assert message.direction == "in"
    assert message.provider == "meta"
    assert message.provider_message_id.startswith("wamid.")
    assert message.raw  # the provider's own JSON for this message, kept
    # Media waits for a worker (download first); the rest is answered in the transaction that stores it.
    assert message.processing_state == ("pending" if "media" in expect else "done")
    assert delivery.state in (DeliveryState.PROCESSED, DeliveryState.PARTIAL)
    if "text" in expect:
        assert message.text == expect["text"]
    if expect.get("reply_to"):
        assert message.reply_to_provider_id.startswith("wamid.")
    if expect.get("interactive_id"):
        assert message.data["interactive_id"]
        assert message.text  # the title the customer tapped
    if "media" in expect:
        assert message.media_mime.split(";")[0] == expect["media"]
        assert message.media_state == "pending"
        assert message.media_provider_id
    if expect.get("caption"):
        assert message.caption
    if "data" in expect:
        assert expect["data"] in json.dumps(message.data)
    if expect.get("referral"):
        assert message.data["referral"]["headline"]
        assert Contact.objects.get().referral["source_url"]
    # New message -> one processing task enqueued (plus console broadcasts).
    assert len(callbacks) >= 1


def test_contact_conversation_and_channel_are_created_from_the_first_message(ingest: Any) -> None:
    ingest("message__text")
    channel = Channel.objects.get()
    assert channel.external_id == "106540352242922"
    contact = Contact.objects.get()
    assert (contact.external_id, contact.profile_name) == ("573001112233", "Laura Martínez")
    conversation = Conversation.objects.get()
    assert conversation.step == "inicio"
    assert conversation.unread_count == 1
    assert conversation.last_inbound_at is not None
    # The rules answered in the same transaction (no rules here: the fallback): the preview is that reply.
    reply = Message.objects.get(direction="out")
    assert conversation.last_message_preview == reply.text[:200]


def test_the_same_delivery_twice_stores_one_message_and_enqueues_nothing_new(ingest: Any) -> None:
    _, first = ingest("message__text")
    _, second = ingest("message__text")
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(direction="out").count() == 1  # answered once
    assert WebhookDelivery.objects.count() == 2  # every raw delivery is still kept
    assert len(first) >= 1
    assert second == []  # no processing task, no broadcast: no second reply
    assert Conversation.objects.get().unread_count == 1


def test_batch_with_two_entries_and_two_numbers(ingest: Any) -> None:
    delivery, _ = ingest("batch__two_entries_two_numbers")
    assert Channel.objects.count() == 2
    assert set(Channel.objects.values_list("external_id", flat=True)) == {"106540352242922", "106540352242923"}
    assert Message.objects.filter(direction="in").count() >= 3
    assert delivery.events_count >= 4


@pytest.mark.parametrize(
    "fixture", ["malformed__missing_entry", "malformed__wrong_object", "malformed__not_json_object"]
)
def test_malformed_deliveries_are_marked_with_a_reason(ingest: Any, fixture: str) -> None:
    delivery, _ = ingest(fixture)
    assert delivery.state == DeliveryState.FAILED
    assert delivery.error
    assert Message.objects.count() == 0


def test_entries_without_changes_are_reported_and_the_valid_one_is_kept(ingest: Any) -> None:
    delivery, _ = ingest("malformed__no_changes")
    assert delivery.state == DeliveryState.PARTIAL
    assert "changes" in delivery.error or "value" in delivery.error
    assert Message.objects.filter(direction="in").count() == 1


def test_a_bad_message_does_not_lose_its_good_neighbours(ingest: Any) -> None:
    delivery, _ = ingest("malformed__message_without_id")
    assert delivery.state == DeliveryState.PARTIAL
    assert "id" in delivery.error
    assert Message.objects.filter(direction="in").count() == len(
        [
            m
            for m in load_fixture("meta", "malformed__message_without_id")["entry"][0]["changes"][0]["value"][
                "messages"
            ]
            if "id" in m
        ]
    )


def _outbound(provider_message_id: str, status: str = "sent") -> Message:
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="106540352242922")
    contact = Contact.objects.create(provider="meta", external_id="573001112233")
    conversation = Conversation.objects.create(contact=contact, channel=channel, step="inicio")
    return Message.objects.create(
        conversation=conversation, direction="out", kind="text", text="Hola", provider="meta",
        provider_message_id=provider_message_id, status=status,
    )  # fmt: skip


def _status_id(name: str) -> str:  # the outbound message a status fixture refers to
    return load_fixture("meta", name)["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]


def test_status_ticks_move_forward_only(ingest: Any) -> None:
    read = load_fixture("meta", "status__read")
    message = _outbound(read["entry"][0]["changes"][0]["value"]["statuses"][0]["id"], status="sent")
    ingest(json.dumps(read).encode())
    message.refresh_from_db()
    assert message.status == "read"
    assert message.read_at and message.delivered_at  # "delivered" is implied by "read"
    late = json.loads(json.dumps(read))
    late["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "delivered"
    ingest(json.dumps(late).encode())  # late and out of order
    message.refresh_from_db()
    assert message.status == "read"


@pytest.mark.parametrize(
    ("fixture", "code"), [("status__failed_131047", "131047"), ("status__failed_131026", "131026")]
)
def test_failed_status_keeps_the_providers_reason(ingest: Any, fixture: str, code: str) -> None:
    message = _outbound(_status_id(fixture), status="sent")
    ingest(fixture)
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error_code == code
    assert message.error_message


def test_status_for_a_message_not_stored_yet_is_retried_later(ingest: Any) -> None:
    delivery, callbacks = ingest("status__sent")
    assert delivery.state == DeliveryState.PROCESSED
    assert len(callbacks) == 1  # a retry of this delivery is scheduled (the send may still be finishing)


def test_session_timeout_resets_to_the_initial_step(ingest: Any, settings: Any) -> None:
    ingest("message__text")
    conversation = Conversation.objects.get()
    conversation.step = "medidas"
    conversation.last_activity_at = timezone.now() - timedelta(seconds=settings.SESSION_TIMEOUT + 5)
    conversation.save()
    ingest("message__text_with_context")
    conversation.refresh_from_db()
    assert conversation.step == "inicio"
    assert Message.objects.filter(direction="in").order_by("-id").first().data.get("session_reset") is True


def test_recent_activity_keeps_the_step(ingest: Any) -> None:
    ingest("message__text")
    Conversation.objects.update(step="medidas")
    ingest("message__text_with_context")
    assert Conversation.objects.get().step == "medidas"


def test_deliveries_are_drained_per_lane_and_a_burst_enqueues_one_task(
    meta_settings: Any, redis_client: Any, settings: Any
) -> None:
    from conversations.services.ingest import deliveries_drain, deliveries_kick, delivery_lane

    settings.DELIVERY_LANES = 2
    redis_client.flushdb()
    bodies = [load_fixture_bytes("meta", name) for name in ("message__text", "message__video", "message__location")]
    deliveries = [delivery_record(provider="meta", body=b, headers={}, signature_ok=True) for b in bodies]
    lanes = {delivery_lane(d.pk) for d in deliveries}
    for d in deliveries:
        deliveries_kick(lanes=[delivery_lane(d.pk)])
    # One drain task per lane was published, however many deliveries arrived.
    assert redis_client.llen("celery") == len(lanes)
    for lane in sorted(lanes):
        assert deliveries_drain(lane=lane) is False  # drained; nothing arrived meanwhile
        states = dict(WebhookDelivery.objects.values_list("pk", "state"))
        for d in deliveries:  # this lane's deliveries and those of the lanes drained before; no other
            drained = delivery_lane(d.pk) <= lane
            assert states[d.pk] == (DeliveryState.PROCESSED if drained else DeliveryState.RECEIVED)
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.PROCESSED}
    # Each stored once. (Which of them the bot answered at once depends on the lanes' order, that is on
    # the deliveries' ids: the video's wait for its media holds back what comes after it in its chat.)
    assert Message.objects.filter(direction="in").count() == 3
    redis_client.flushdb()


def test_provider_notices_are_kept_on_the_delivery_for_the_admin(ingest: Any) -> None:
    delivery, _ = ingest("errors__system_level")
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PARTIAL
    assert "meta notice 131000: Something went wrong — Message failed to send due to an unknown" in delivery.error
    assert "meta notice 368: Temporarily blocked for policies violations" in delivery.error
    assert Message.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_first_message_inserts_contact_and_chat_without_savepoints_and_a_refused_insert_leaves_the_turn_usable(
    meta_settings: Any,
) -> None:
    """A new customer's contact and chat are plain INSERTs in the turn's transaction. MariaDB and SQLite
    roll back only a refused statement (the contact exists, or a concurrent first message inserted it
    first), so no savepoint is needed and the transaction goes on after it."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from conversations.services.ingest import _insert_unless_raced

    with transaction.atomic():
        assert _insert_unless_raced(Contact(provider="meta", external_id="573009990001"))
        with CaptureQueriesContext(connection) as queries:
            assert _insert_unless_raced(Contact(provider="meta", external_id="573009990002"))
            assert not _insert_unless_raced(Contact(provider="meta", external_id="573009990001"))  # refused...
        assert [q["sql"] for q in queries.captured_queries if "SAVEPOINT" in q["sql"].upper()] == []
        Contact.objects.create(provider="meta", external_id="573009990003")  # ...and the transaction goes on
    assert Contact.objects.filter(external_id__startswith="57300999").count() == 3


def test_a_customer_known_from_another_number_keeps_one_contact_with_the_new_name(ingest: Any) -> None:
    Contact.objects.create(provider="meta", external_id="573001112233", profile_name="Antes")
    ingest("message__text")
    contact = Contact.objects.get()
    assert contact.conversations.count() == 1 and contact.profile_name == "Laura Martínez"


@pytest.mark.django_db(transaction=True)
def test_a_new_customers_first_message_creates_one_contact_and_one_chat_and_asks_no_question_after_the_read(
    ingest: Any, meta_settings: Any
) -> None:
    """The read that finds no chat is the turn's only question: a chat the turn creates has no message and
    no role yet, and a message stored in another chat would be refused by its unique id at the INSERT."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        ingest("message__text")
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    reads = [q["sql"] for q in queries.captured_queries if "EXISTS" in q["sql"] or "accounts_chatrole" in q["sql"]]
    assert len(reads) == 1 and "conversations_contact" in reads[0]  # the read, nothing after it


@pytest.mark.django_db(transaction=True)
def test_a_message_stored_in_another_chat_is_not_stored_again(ingest: Any, meta_settings: Any) -> None:
    """The turn asks whether the message is stored in its own chat; one with the same provider id in another
    chat (a new customer's, say) is refused by the unique id at the INSERT, and the turn stores nothing."""
    from conversations.providers.base import InboundMessage
    from conversations.services.ingest import message_store_inbound

    ingest("message__text")
    first = Message.objects.get(direction="in")
    before = Message.objects.count()
    event = InboundMessage(
        provider_message_id=first.provider_message_id,
        channel_external_id=first.conversation.channel.external_id,
        contact_external_id="573009998877",
        contact_name="Otra persona",
        kind="text",
        sent_at=timezone.now(),
        text="hola",
    )
    assert message_store_inbound(provider="meta", event=event) is None
    assert Message.objects.count() == before
    assert Message.objects.filter(direction="in").get() == first


@pytest.mark.parametrize("roles", [0, 2])
def test_a_returning_customers_turn_reads_the_chats_roles_with_its_questions_and_its_events_reach_them(
    ingest: Any, meta_settings: Any, roles: int
) -> None:
    """The chat's roles come with the statement that asks whether the message is stored already (one
    statement fewer per message): the turn's events go to those roles' consoles, or to the unrouted
    chats' group when it has none, with no query of their own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import ChatRole, Role
    from conversations.providers.base import InboundMessage
    from conversations.services.ingest import message_store_inbound
    from conversations.visibility import GROUP_ALL, GROUP_UNROUTED, groups_for, role_group

    ingest("message__text")
    conversation = Conversation.objects.select_related("contact", "channel").get()
    made = [Role.objects.create(name=f"rol {n}", keyword=f"rol-{n}") for n in range(roles)]
    for role in made:
        ChatRole.objects.create(conversation=conversation, role=role)
    event = InboundMessage(
        provider_message_id="wamid.SECOND0001",
        channel_external_id=conversation.channel.external_id,
        contact_external_id=conversation.contact.external_id,
        contact_name="Laura Martínez",
        kind="text",
        sent_at=timezone.now(),
        text="¿y los sábados?",
    )
    with CaptureQueriesContext(connection) as queries:
        message = message_store_inbound(provider="meta", event=event)
    assert message is not None and message.conversation_id == conversation.pk
    role_reads = [q["sql"] for q in queries.captured_queries if "accounts_chatrole" in q["sql"]]
    # the statement that reads and locks the chat asks the questions too, and nothing after it
    assert len(role_reads) == 1 and "EXISTS" in role_reads[0] and "conversations_contact" in role_reads[0]
    assert not [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT EXISTS")]
    with CaptureQueriesContext(connection) as later:
        groups = groups_for(message.conversation)
    assert not later.captured_queries
    expected = [GROUP_ALL, *(role_group(r.pk) for r in sorted(made, key=lambda r: r.pk))] + (
        [] if made else [GROUP_UNROUTED]
    )
    assert groups == expected


def test_role_ids_are_read_from_group_concats_text_or_bytes() -> None:
    from conversations.services.ingest import _role_ids_from

    assert _role_ids_from(None) == []
    assert _role_ids_from("12,3") == [3, 12]
    assert _role_ids_from(b"7") == [7]
