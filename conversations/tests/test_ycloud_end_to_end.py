"""YCloud (WhatsApp through a BSP) through the real pieces: signed webhooks POSTed to /webhooks/ycloud/, the
live Celery worker, replies sent to a local server speaking YCloud's API (FakeYCloud)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from conftest import celery_settled, load_fixture, wait_for
from conversations.fakes.ycloud import FakeYCloud
from conversations.models import Channel, Conversation, Message, WebhookDelivery
from conversations.services.channels import channel_problems, webhook_secrets_clear
from whatsapp_ia.demo import demo_flow_load

pytestmark = pytest.mark.django_db(transaction=True)

BUSINESS = "+576015550100"
LAURA = "573001112233"


@pytest.fixture
def ycloud(settings: Any) -> Iterator[FakeYCloud]:
    """The seed's single-number YCloud setup from the environment, against the fake server."""
    with FakeYCloud(api_key="YC-KEY", webhook_secret="whsec_e2e") as fake:
        settings.YCLOUD_API_URL = fake.base_url
        settings.YCLOUD_API_KEY = "YC-KEY"
        settings.YCLOUD_WHATSAPP_NUMBER = BUSINESS
        settings.YCLOUD_WEBHOOK_SECRET = "whsec_e2e"
        settings.WEBHOOK_VERIFY_SIGNATURES = True
        settings.INITIAL_STEP = "inicio"
        webhook_secrets_clear()
        yield fake
        webhook_secrets_clear()


def post(body: bytes, headers: dict[str, str]) -> Any:
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    return Client().post("/webhooks/ycloud/", data=body, content_type="application/json", **extra)


def deliver(ycloud: FakeYCloud, event: dict[str, Any], **kw: Any) -> Any:
    return post(*ycloud.signed_delivery(event, **kw))


def test_a_customer_is_answered_through_ycloud_and_the_ticks_follow_its_statuses_in_any_order(
    ycloud: FakeYCloud, celery_live_worker: Any
) -> None:
    demo_flow_load()
    assert deliver(ycloud, ycloud.inbound_text_event("hola", to=BUSINESS)).status_code == 200
    sent = ycloud.wait_for_sent(1, timeout=15)
    assert sent[0]["direct"] is True
    assert sent[0]["headers"]["x-api-key"] == "YC-KEY"
    body = sent[0]["json"]
    assert (body["from"], body["to"], body["type"]) == (BUSINESS, "+" + LAURA, "interactive")
    assert body["externalId"].startswith("wia:")  # our message id, echoed by YCloud's status webhooks
    reply = wait_for(lambda: Message.objects.filter(direction="out", status="sent").first())
    assert reply.provider_message_id == sent[0]["wamid"]
    conversation = Conversation.objects.get()
    assert conversation.channel.provider == "ycloud" and conversation.channel.external_id == BUSINESS
    assert conversation.platform == "whatsapp" and conversation.contact.phone == "+" + LAURA
    assert not conversation.channel.needs_setup  # the environment configures this number

    # YCloud does not promise order: read arrives before delivered, and a late "sent" changes nothing.
    deliver(ycloud, ycloud.status_event(sent[0], "read"))
    wait_for(lambda: Message.objects.get(pk=reply.pk).status == "read")
    deliver(ycloud, ycloud.status_event(sent[0], "delivered"))
    deliver(ycloud, ycloud.status_event(sent[0], "sent"))
    wait_for(lambda: WebhookDelivery.objects.filter(state="processed").count() == 4)
    reply.refresh_from_db()
    assert reply.status == "read" and reply.read_at and reply.delivered_at

    # The customer quotes our reply: its wamid links the quote.
    quoting = ycloud.inbound_text_event("¿y el precio?", to=BUSINESS, context_id=sent[0]["wamid"])
    deliver(ycloud, quoting)
    quoted = wait_for(lambda: Message.objects.filter(text="¿y el precio?").first())
    assert quoted.reply_to_provider_id == reply.provider_message_id


def test_a_failed_status_keeps_ycloud_s_code_and_words_and_flags_the_chat(
    ycloud: FakeYCloud, celery_live_worker: Any
) -> None:
    demo_flow_load()
    deliver(ycloud, ycloud.inbound_text_event("hola", to=BUSINESS))
    sent = ycloud.wait_for_sent(1, timeout=15)
    reply = wait_for(lambda: Message.objects.filter(direction="out", status="sent").first())
    failed = ycloud.status_event(sent[0], "failed", error_code="BALANCE_INSUFFICIENT", error_message="Top up")
    deliver(ycloud, failed)
    wait_for(lambda: Message.objects.get(pk=reply.pk).status == "failed")
    reply.refresh_from_db()
    assert (reply.error_code, reply.error_message) == ("BALANCE_INSUFFICIENT", "Top up")
    assert Conversation.objects.get().needs_attention
    deliver(ycloud, ycloud.status_event(sent[0], "delivered"))  # a late "delivered" does not undo the failure
    wait_for(lambda: WebhookDelivery.objects.filter(state="processed").count() == 3)
    assert Message.objects.get(pk=reply.pk).status == "failed"


def test_missing_bad_and_stale_signatures_are_refused_and_kept_small(ycloud: FakeYCloud) -> None:
    event = ycloud.inbound_text_event("hola", to=BUSINESS)
    body, headers = ycloud.signed_delivery(event)
    assert post(body, {}).status_code == 403
    assert post(body, {"YCloud-Signature": headers["YCloud-Signature"].replace("s=", "s=0")}).status_code == 403
    stale = int(time.time()) - 301
    assert post(*ycloud.signed_delivery(event, timestamp=stale)).status_code == 403
    future = int(time.time()) + 400
    assert post(*ycloud.signed_delivery(event, timestamp=future)).status_code == 403
    assert WebhookDelivery.objects.filter(state="rejected").count() == 4
    assert not Message.objects.exists()
    assert post(body, headers).status_code == 200


def test_the_same_message_from_many_threads_at_once_gives_one_message_and_one_reply(
    ycloud: FakeYCloud, celery_live_worker: Any, redis_client: Any
) -> None:
    demo_flow_load()
    body, headers = ycloud.signed_delivery(ycloud.inbound_text_event("hola", to=BUSINESS, wamid="wamid.SAME1"))
    threads = 12
    barrier = threading.Barrier(threads)
    codes: list[int] = []
    lock = threading.Lock()

    def hit() -> None:
        try:
            barrier.wait()
            code = post(body, headers).status_code
            with lock:
                codes.append(code)
        finally:
            connection.close()

    workers = [threading.Thread(target=hit) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    assert codes == [200] * threads
    wait_for(lambda: WebhookDelivery.objects.filter(state="processed").count() == threads, timeout=30)
    ycloud.wait_for_sent(1, timeout=15)
    celery_settled(redis_client)
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(direction="out").count() == 1
    assert len(ycloud.sent) == 1


def test_an_image_is_downloaded_from_ycloud_with_the_key(ycloud: FakeYCloud, celery_live_worker: Any) -> None:
    from conversations.tests.media_support import JPEG

    ycloud.add_media("media-77", JPEG, "image/jpeg")
    event = load_fixture("ycloud", "message__image_with_caption")
    message = event["whatsappInboundMessage"]
    message["to"], message["sendTime"] = BUSINESS, time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    message["image"].update({"id": "media-77", "link": ycloud.media_url("media-77")})
    message["image"].pop("sha256", None)
    assert deliver(ycloud, event).status_code == 200
    stored = wait_for(lambda: Message.objects.filter(kind="image", media_state="stored").first(), timeout=20)
    assert stored.caption == message["image"]["caption"]
    downloads = ycloud.downloads
    assert downloads and downloads[0]["authorized"] is True


def test_a_number_nobody_configured_is_kept_and_the_admin_says_what_is_missing(
    ycloud: FakeYCloud, admin_client: Client, settings: Any, celery_live_worker: Any
) -> None:
    deliver(ycloud, ycloud.inbound_text_event("hola", to="+576015550999"))
    message = wait_for(lambda: Message.objects.filter(direction="in").first())
    channel = message.conversation.channel
    assert (channel.provider, channel.external_id, channel.needs_setup) == ("ycloud", "+576015550999", True)
    settings.YCLOUD_API_KEY = ""
    problems = channel_problems(channel)
    assert any("YCLOUD_API_KEY" in p for p in problems)
    page = admin_client.get(f"/admin/conversations/channel/{channel.pk}/change/").content.decode()
    assert "YCLOUD_API_KEY" in page
    assert "/webhooks/ycloud/" in page

    # A sender number that is no number is refused by the admin form, not at send time.
    form = {
        "name": "Sucursal",
        "provider": "ycloud",
        "external_id": "ventas",
        "display_phone_number": "",
        "is_active": "on",
        "business_account_id": "",
        "base_url": "",
        "account_id": "",
    }
    answer = admin_client.post("/admin/conversations/channel/add/", form)
    assert answer.status_code == 200
    assert "E.164" in answer.content.decode()
    assert not Channel.objects.filter(external_id="ventas").exists()


def test_an_agent_s_picture_is_uploaded_to_ycloud_then_sent_by_its_id(
    ycloud: FakeYCloud, celery_live_worker: Any, settings: Any, tmp_path: Any
) -> None:
    from accounts.models import User
    from conversations.services.agent_send import agent_send_attachment
    from conversations.tests.media_support import JPEG

    settings.MEDIA_ROOT = str(tmp_path)
    deliver(ycloud, ycloud.inbound_text_event("¿me mandas una foto?", to=BUSINESS))
    conversation = wait_for(lambda: Conversation.objects.first())
    agent = User.objects.create_user(username="marta", password="x-12345678", is_staff=True)
    before = len(ycloud.sent)
    agent_send_attachment(conversation=conversation, user=agent, content=JPEG, filename="mesa.jpg", caption="Roble")
    sent = wait_for(lambda: [s for s in ycloud.sent[before:] if s["json"]["type"] == "image"], timeout=15)
    (upload,) = ycloud.uploads
    assert upload["number"] == BUSINESS and upload["content"] == JPEG
    assert sent[0]["json"]["image"] == {"id": upload["media_id"], "caption": "Roble"}
