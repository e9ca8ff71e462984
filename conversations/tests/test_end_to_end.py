"""Through the real pieces: HTTP webhook → Redis broker → Celery worker → local Graph server.

These run a Celery worker inside the test process against the test Redis, and
use transactional tests so the worker's own database connections see the rows.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from conftest import celery_settled, wait_for
from conversations.models import Conversation, Message, WebhookDelivery
from conversations.services.sweeper import sweep_stuck
from conversations.tests.conftest import sign
from conversations.tests.test_processing import text_payload
from whatsapp_ia.demo import demo_flow_load

pytestmark = pytest.mark.django_db(transaction=True)


def post_signed(client: Client, payload: dict) -> Any:
    body = json.dumps(payload).encode()
    return client.post("/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body))


def test_a_customer_message_is_answered_through_the_worker(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any
) -> None:
    demo_flow_load()
    assert post_signed(Client(), text_payload("hola", n=1)).status_code == 200
    sent = fake_graph.wait_for_sent(1, timeout=15)
    assert sent[0]["json"]["to"] == "573001112233"
    assert sent[0]["json"]["interactive"]["type"] == "button"
    wait_for(lambda: Message.objects.filter(direction="out", status="sent").count() == 1)
    reply = Message.objects.get(direction="out")
    assert reply.provider_message_id == sent[0]["wamid"]

    # Meta's status webhooks then move the ticks.
    status = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "576015550100", "phone_number_id": "106540352242922"},
            "statuses": [{"id": reply.provider_message_id, "status": "read", "timestamp": str(int(time.time())),
                          "recipient_id": "573001112233"}],
        }}]}],
    }  # fmt: skip
    assert post_signed(Client(), status).status_code == 200
    wait_for(lambda: Message.objects.get(pk=reply.pk).status == "read")


def test_the_same_delivery_from_many_threads_at_once_gives_one_message_and_one_reply(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, redis_client: Any
) -> None:
    demo_flow_load()
    payload = text_payload("hola", n=7)
    threads = 16
    barrier = threading.Barrier(threads)
    statuses: list[int] = []
    lock = threading.Lock()

    def hit() -> None:
        try:
            client = Client()
            barrier.wait()
            code = post_signed(client, payload).status_code
            with lock:
                statuses.append(code)
        finally:
            connection.close()

    workers = [threading.Thread(target=hit) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    assert statuses == [200] * threads
    assert WebhookDelivery.objects.count() == threads  # every raw delivery is kept
    wait_for(lambda: WebhookDelivery.objects.filter(state="processed").count() == threads, timeout=30)
    fake_graph.wait_for_sent(1, timeout=15)
    celery_settled(redis_client)  # every task has run: a (wrong) second reply would be out by now
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(direction="out").count() == 1
    assert len(fake_graph.sent) == 1


def test_the_sweeper_recovers_work_whose_task_was_lost(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any
) -> None:
    from conversations.models import Channel, Contact

    demo_flow_load()
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="106540352242922")
    contact = Contact.objects.create(provider="meta", external_id="573001112233")
    conversation = Conversation.objects.create(
        contact=contact, channel=channel, step="inicio", last_inbound_at=timezone.now()
    )
    # An inbound message whose processing task never ran, and an outbound one never sent.
    inbound = Message.objects.create(
        conversation=conversation, direction="in", kind="text", text="hola", provider="meta",
        provider_message_id="wamid.LOST1", processing_state="pending",
    )  # fmt: skip
    text = "Te escribimos por tu pedido"
    outbound = Message.objects.create(
        conversation=conversation, direction="out", kind="text", text=text, provider="meta",
        status="queued", data={"outbound": {"kind": "text", "to": "573001112233", "text": text}},
    )  # fmt: skip
    old = timezone.now() - timedelta(minutes=10)
    Message.objects.filter(pk__in=[inbound.pk, outbound.pk]).update(created_at=old, updated_at=old)

    report = sweep_stuck()
    assert (report.inbound_conversations, report.outbound_conversations) == (1, 1)
    wait_for(lambda: Message.objects.get(pk=inbound.pk).processing_state == "done")
    wait_for(lambda: Message.objects.get(pk=outbound.pk).status == "sent")
    bodies = [s["json"].get("text", {}).get("body") for s in fake_graph.wait_for_sent(2)]
    assert "Te escribimos por tu pedido" in bodies


def test_the_sweeper_leaves_fresh_work_alone(meta_settings: Any) -> None:
    from conversations.models import Channel, Contact

    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="1")
    contact = Contact.objects.create(provider="meta", external_id="5730")
    conversation = Conversation.objects.create(contact=contact, channel=channel)
    Message.objects.create(
        conversation=conversation, direction="in", kind="text", provider="meta", provider_message_id="x"
    )
    assert sweep_stuck() == type(sweep_stuck())(0, 0, 0)


def test_a_delivery_left_unparsed_is_picked_up(meta_settings: Any, fake_graph: Any, celery_live_worker: Any) -> None:
    demo_flow_load()
    delivery = WebhookDelivery.objects.create(
        provider="meta", body=json.dumps(text_payload("hola", n=9)).encode(), signature_ok=True
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=timezone.now() - timedelta(minutes=10))
    assert sweep_stuck().deliveries == 1
    fake_graph.wait_for_sent(1, timeout=15)
    wait_for(lambda: WebhookDelivery.objects.get(pk=delivery.pk).state == "processed")


def test_a_delivery_that_raises_does_not_hold_up_the_next_one_in_its_lane(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, settings: Any
) -> None:
    from conversations.models import DeliveryState

    settings.DELIVERY_LANES = 1  # both deliveries in one lane
    demo_flow_load()
    deep = b"[" * 100_000 + b"]" * 100_000  # signed, but json.loads raises RecursionError
    client = Client()
    bad = client.post("/webhook", data=deep, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(deep))
    assert bad.status_code == 200  # durable first; parsing happens in the worker
    assert post_signed(client, text_payload("hola", n=11)).status_code == 200
    fake_graph.wait_for_sent(1, timeout=15)  # the customer behind it is answered without waiting for a sweep
    failed = WebhookDelivery.objects.get(state=DeliveryState.FAILED)
    assert failed.error.startswith("RecursionError") and failed.attempts == 1
