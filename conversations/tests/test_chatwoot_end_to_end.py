"""Chatwoot (Instagram / Facebook) through the real pieces: its webhooks POSTed to /webhooks/chatwoot/,
the live Celery worker, replies posted to a local server speaking Chatwoot's API (FakeChatwoot).

The echo loop is the heart of it: every message we post comes back as a webhook, and none may ever be
taken for the customer's (the bot would answer itself forever).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from conftest import celery_settled, wait_for
from conversations.fakes.chatwoot import FakeChatwoot
from conversations.models import Conversation, Message, WebhookDelivery
from conversations.services.channels import webhook_secrets_clear
from whatsapp_ia.demo import demo_flow_load

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "cw-url-token-9f8e"
SIGNING = "cw-signing-secret"


@pytest.fixture
def chatwoot(settings: Any) -> Iterator[FakeChatwoot]:
    """One Instagram inbox configured from the environment (the seed's single-inbox setup)."""
    with FakeChatwoot(token="CW-API", account_id="3", inbox_id=12) as fake:
        settings.CHATWOOT_URL = fake.base_url
        settings.CHATWOOT_ACCOUNT_ID = "3"
        settings.CHATWOOT_API_TOKEN = "CW-API"
        settings.CHATWOOT_WEBHOOK_SECRET = TOKEN
        settings.CHATWOOT_INBOX_ID = ""
        settings.WEBHOOK_VERIFY_SIGNATURES = True
        settings.INITIAL_STEP = "inicio"
        fake.webhooks.account_id = 3
        fake.webhooks.now = time.time()
        webhook_secrets_clear()
        yield fake
        webhook_secrets_clear()


def post(payload_or_body: Any, *, token: str | None = TOKEN, headers: dict[str, str] | None = None) -> Any:
    import json

    body = payload_or_body if isinstance(payload_or_body, bytes) else json.dumps(payload_or_body).encode()
    path = "/webhooks/chatwoot/" + (f"?token={token}" if token is not None else "")
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items() if k != "Content-Type"}
    return Client().post(path, data=body, content_type="application/json", **extra)


def test_an_instagram_customer_is_answered_and_our_reply_coming_back_is_never_answered(
    chatwoot: FakeChatwoot, celery_live_worker: Any, redis_client: Any
) -> None:
    demo_flow_load()
    hooks = chatwoot.webhooks
    assert post(hooks.incoming_text("hola")).status_code == 200
    sent = chatwoot.wait_for_sent(1, timeout=15)
    assert sent[0]["conversation_id"] == "42" and sent[0]["account_id"] == "3"
    assert sent[0]["headers"]["api_access_token"] == "CW-API"
    assert sent[0]["json"]["message_type"] == "outgoing"
    wait_for(lambda: Message.objects.filter(direction="out", status="sent").count() == 1)
    reply = Message.objects.get(direction="out")
    assert reply.provider_message_id == str(sent[0]["id"])
    conversation = Conversation.objects.get()
    assert (conversation.platform, conversation.provider_thread_id) == ("instagram", "42")
    assert conversation.contact.phone == ""  # a Chatwoot contact id is no phone number

    # Chatwoot sends our reply back, as the agent bot's outgoing message: recognised, never answered.
    assert post(hooks.echo(sent[0])).status_code == 200
    wait_for(lambda: WebhookDelivery.objects.filter(state="processed").count() == 2)
    celery_settled(redis_client)
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(direction="out").count() == 1
    assert len(chatwoot.sent) == 1


def test_what_a_chatwoot_agent_types_shows_in_the_chat_and_the_bot_steps_back(
    chatwoot: FakeChatwoot, celery_live_worker: Any, redis_client: Any
) -> None:
    demo_flow_load()
    hooks = chatwoot.webhooks
    post(hooks.incoming_text("hola"))
    chatwoot.wait_for_sent(1, timeout=15)
    wait_for(lambda: Message.objects.filter(direction="out", status="sent").exists())

    assert post(hooks.private_note("cliente VIP, ofrecer envío gratis")).status_code == 200
    assert post(hooks.agent_reply("Hola Laura, soy Marta; te ayudo yo")).status_code == 200
    wait_for(lambda: Message.objects.filter(text__startswith="Hola Laura, soy Marta").exists())
    celery_settled(redis_client)
    outside = Message.objects.get(text__startswith="Hola Laura, soy Marta")
    assert (outside.direction, outside.status) == ("out", "sent")
    assert not Message.objects.filter(text__contains="cliente VIP").exists()  # a private note stays in Chatwoot
    conversation = Conversation.objects.get()
    assert conversation.bot_paused and conversation.status == "human"

    # The customer answers the agent: stored, not answered by the bot.
    chatwoot.reset()
    post(hooks.incoming_text("gracias Marta"))
    wait_for(lambda: Message.objects.filter(text="gracias Marta", processing_state="done").exists())
    celery_settled(redis_client)
    assert chatwoot.sent == []

    # Resolved in Chatwoot: our chat closes too.
    assert post(hooks.status_changed("resolved")).status_code == 200
    wait_for(lambda: Conversation.objects.get().status == "closed")


def test_a_facebook_customer_is_told_apart_from_instagram(chatwoot: FakeChatwoot, celery_live_worker: Any) -> None:
    demo_flow_load()
    hooks = chatwoot.webhooks
    hooks.channel, hooks.inbox_id, hooks.conversation_id, hooks.contact_id = "Channel::FacebookPage", 14, 77, 402
    post(hooks.incoming_text("hola"))
    sent = chatwoot.wait_for_sent(1, timeout=15)
    assert sent[0]["conversation_id"] == "77"
    conversation = wait_for(lambda: Conversation.objects.filter(platform="facebook").first())
    assert conversation.channel.external_id == "14"


def test_deliveries_without_the_token_or_with_a_bad_or_stale_signature_are_refused(chatwoot: FakeChatwoot) -> None:
    hooks = chatwoot.webhooks
    assert post(hooks.incoming_text("hola"), token=None).status_code == 403
    assert post(hooks.incoming_text("hola"), token="guess").status_code == 403
    assert WebhookDelivery.objects.filter(state="rejected").count() == 2

    # Newer Chatwoot signs: a fresh signature with the webhook's secret is enough, a stale one never.
    chatwoot_settings_secret(SIGNING)
    body, headers = hooks.deliver(hooks.incoming_text("firmado"), secret=SIGNING, timestamp=int(time.time()))
    assert post(body, token=None, headers=headers).status_code == 200
    body, headers = hooks.deliver(hooks.incoming_text("viejo"), secret=SIGNING, timestamp=int(time.time()) - 600)
    assert post(body, token=None, headers=headers).status_code == 403
    body, headers = hooks.deliver(hooks.incoming_text("otra clave"), secret="not-it", timestamp=int(time.time()))
    assert post(body, token=None, headers=headers).status_code == 403


def chatwoot_settings_secret(secret: str) -> None:
    """A channel in the admin with its own token and Chatwoot's signing secret."""
    from conversations.models import Channel

    Channel.objects.create(
        name="Instagram", provider="chatwoot", external_id="12", verify_token=TOKEN, app_secret=secret
    )
    webhook_secrets_clear()


def test_the_same_message_from_many_threads_at_once_gives_one_message_and_one_reply(
    chatwoot: FakeChatwoot, celery_live_worker: Any, redis_client: Any
) -> None:
    demo_flow_load()
    payload = chatwoot.webhooks.incoming_text("hola", message_id=8100)
    threads = 12
    barrier = threading.Barrier(threads)
    codes: list[int] = []
    lock = threading.Lock()

    def hit() -> None:
        try:
            barrier.wait()
            code = post(payload).status_code
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
    chatwoot.wait_for_sent(1, timeout=15)
    celery_settled(redis_client)
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(direction="out").count() == 1
    assert len(chatwoot.sent) == 1


def test_a_voice_note_sent_as_a_file_is_a_voice_note_downloaded_with_the_token(
    chatwoot: FakeChatwoot, celery_live_worker: Any, tmp_path: Any
) -> None:
    from conversations.tests.console_browser import voice_note_ogg

    hooks = chatwoot.webhooks
    url = chatwoot.add_attachment(voice_note_ogg(tmp_path), "audio/ogg", "voice.ogg")
    payload = hooks.incoming_attachments([hooks.attachment("file", data_url=url, extension="ogg")])
    assert post(payload).status_code == 200
    message = wait_for(lambda: Message.objects.filter(direction="in", media_state="stored").first(), timeout=20)
    assert message.kind == "audio"
    assert chatwoot.downloads and chatwoot.downloads[0]["headers"].get("api_access_token") == "CW-API"


def test_an_agent_s_picture_goes_to_chatwoot_attached_to_the_message(
    chatwoot: FakeChatwoot, celery_live_worker: Any, settings: Any, tmp_path: Any
) -> None:
    from accounts.models import User
    from conversations.services.agent_send import agent_send_attachment
    from conversations.tests.media_support import JPEG

    settings.MEDIA_ROOT = str(tmp_path)
    post(chatwoot.webhooks.incoming_text("¿me mandas una foto?"))
    conversation = wait_for(lambda: Conversation.objects.filter(provider_thread_id="42").first())
    chatwoot.reset()
    agent = User.objects.create_user(username="marta", password="x-12345678", is_staff=True)
    message = agent_send_attachment(
        conversation=conversation, user=agent, content=JPEG, filename="mesa.jpg", caption="Así queda en roble"
    )
    sent = chatwoot.wait_for_sent(1, timeout=15)
    assert sent[0]["conversation_id"] == "42"
    assert sent[0]["form"]["content"] == "Así queda en roble"
    (filename, content, mime) = sent[0]["files"][0]
    assert content == JPEG and mime == "image/jpeg" and filename.endswith(".jpg")
    wait_for(lambda: Message.objects.get(pk=message.pk).status == "sent")
    assert Message.objects.get(pk=message.pk).provider_message_id == str(sent[0]["id"])
