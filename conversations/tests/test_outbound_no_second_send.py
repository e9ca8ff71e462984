"""A customer never gets the same reply twice: sends are tagged with our id, stuck ones wait for the provider's word.

Each send carries our message id (Meta's biz_opaque_callback_data); a status webhook for a
message we still have as not sent (the worker died after Graph took it, or the call timed
out after Graph took it) marks it sent, so neither the flush nor the sweeper sends it again.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conftest import load_fixture
from conversations.models import Conversation, Message
from conversations.providers.base import OutboundMessage
from conversations.providers.meta import MetaProvider
from conversations.services.ingest import delivery_process, delivery_record
from conversations.services.outbound import callback_message_id, conversation_flush_outbound, message_queue_outbound
from conversations.services.sweeper import sweep_stuck

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(open_conversation: Conversation, settings: Any) -> Conversation:
    settings.OUTBOUND_PAIR_INTERVAL_SECONDS = 0
    return open_conversation


def queue(conversation: Conversation, text: str = "Hola Laura") -> Message:
    return message_queue_outbound(conversation=conversation, outbound=OutboundMessage(kind="text", to="", text=text))


def deliver(payload: dict) -> None:
    delivery = delivery_record(provider="meta", body=json.dumps(payload).encode(), headers={}, signature_ok=True)
    delivery_process(delivery_id=delivery.pk)


def as_left_by_a_killed_worker(message: Message, *, minutes_ago: int) -> None:
    """What a worker killed between Graph's answer and recording it leaves: "sending", no provider id."""
    Message.objects.filter(pk=message.pk).update(
        status="sending",
        provider_message_id=None,
        sent_at=None,
        updated_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def test_each_send_carries_our_message_id_for_the_status_webhooks(conversation: Conversation, fake_graph: Any) -> None:
    message = queue(conversation)
    conversation_flush_outbound(conversation_id=conversation.pk)
    tag = fake_graph.sent[0]["json"]["biz_opaque_callback_data"]
    assert callback_message_id(tag) == message.pk


def test_the_parser_reads_the_callback_data_back_from_a_status() -> None:
    [status] = MetaProvider.parse(load_fixture("meta", "status__sent_with_callback_data")).events
    assert status.callback_data == "wia:42"
    assert callback_message_id(status.callback_data) == 42
    assert callback_message_id("someone-else:42") is None and callback_message_id("wia:4x2") is None


def test_a_status_for_a_send_we_thought_lost_marks_it_sent_and_it_is_never_sent_again(
    conversation: Conversation, fake_graph: Any
) -> None:
    message = queue(conversation)
    conversation_flush_outbound(conversation_id=conversation.pk)
    [send] = fake_graph.sent
    as_left_by_a_killed_worker(message, minutes_ago=10)

    deliver(fake_graph.status_webhook(send, "delivered"))
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("delivered", send["wamid"])
    assert message.sent_at and message.delivered_at

    assert sweep_stuck(now=timezone.now() + timedelta(hours=1)).outbound_conversations == 0
    conversation_flush_outbound(conversation_id=conversation.pk)
    assert len(fake_graph.sent) == 1


def test_a_send_that_timed_out_after_graph_took_it_is_not_sent_again(
    conversation: Conversation, fake_graph: Any, settings: Any
) -> None:
    settings.PROVIDER_HTTP_TIMEOUT = 0.2
    fake_graph.latency = 0.6  # Graph takes the message, but answers after we gave up
    message = queue(conversation)
    first = conversation_flush_outbound(conversation_id=conversation.pk)
    assert first.retry_in is not None  # a network error: retried later
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("queued", None)
    [send] = fake_graph.wait_for_sent(1)
    fake_graph.latency = 0.0

    deliver(fake_graph.status_webhook(send, "sent"))
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("sent", send["wamid"])
    assert message.next_attempt_at is None and message.error_message == ""
    conversation_flush_outbound(conversation_id=conversation.pk)
    assert len(fake_graph.sent) == 1


def test_a_status_names_only_our_own_unsent_messages(conversation: Conversation, fake_graph: Any) -> None:
    sent, unsent = queue(conversation, "uno"), queue(conversation, "dos")
    conversation_flush_outbound(conversation_id=conversation.pk)
    first, second = fake_graph.sent
    as_left_by_a_killed_worker(unsent, minutes_ago=10)
    # A status with another message's id in its callback data does not take over a sent message.
    forged = fake_graph.status_webhook(second, "sent")
    forged["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = f"wia:{sent.pk}"
    deliver(forged)
    sent.refresh_from_db()
    assert sent.provider_message_id == first["wamid"]


def test_the_sweeper_requeues_only_sends_older_than_the_provider_timeout_plus_a_margin(
    conversation: Conversation, fake_graph: Any, settings: Any
) -> None:
    settings.PROVIDER_HTTP_TIMEOUT, settings.SWEEP_SENDING_MARGIN, settings.SWEEP_OUTBOUND_AFTER = 15, 60, 120
    old_queued, in_flight = queue(conversation, "uno"), queue(conversation, "dos")
    Message.objects.filter(pk=old_queued.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    as_left_by_a_killed_worker(in_flight, minutes_ago=0)
    now = timezone.now() + timedelta(seconds=80)  # 80 s < 15 * 2 + 60

    assert sweep_stuck(now=now).outbound_conversations == 1  # the old queued one
    in_flight.refresh_from_db()
    assert in_flight.status == "sending"  # its send may still be answered, or its status arrive

    sweep_stuck(now=now + timedelta(seconds=20))  # 100 s: past timeout * 2 + margin
    in_flight.refresh_from_db()
    assert in_flight.status == "queued"


def test_two_flushes_never_send_one_message_twice(conversation: Conversation, fake_graph: Any) -> None:
    from conversations.services.outbound import _record_status

    message = queue(conversation)
    now = timezone.now()
    assert _record_status(message.pk, status="sending", attempts=1, now=now) is True
    assert _record_status(message.pk, status="sending", attempts=1, now=now) is False  # the second worker
