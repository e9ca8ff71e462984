"""One console for every channel, in real Chromium: a WhatsApp customer through YCloud and an Instagram
customer through Chatwoot reach the same console, each is marked with its platform, the channel filter
narrows the list, and an agent's reply goes out through each provider's own API (local fake servers),
with Chatwoot's echo of it never shown twice. Screenshots: var/screenshots/console/."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import User
from conftest import wait_for
from conversations.fakes.chatwoot import FakeChatwoot
from conversations.fakes.ycloud import FakeYCloud
from conversations.models import Channel, Message, WebhookDelivery
from conversations.services.channels import webhook_secrets_clear
from conversations.tests import conftest as conversations_fixtures
from conversations.tests.console_browser import (
    console_server,  # noqa: F401  (fixture)
    log_in,
    shot,
    watch_errors,
)
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

fake_graph = conversations_fixtures.fake_graph
meta_settings = conversations_fixtures.meta_settings
TIMEOUT = 15_000
BUSINESS = "+576015550100"
TOKEN = "cw-token-browser"


@pytest.fixture
def providers(settings: Any) -> Iterator[tuple[FakeYCloud, FakeChatwoot]]:
    """YCloud and Chatwoot channels set up in the admin's way, against local fake servers.

    Requested before `console_server`, so the forked server process sees these settings."""
    with (
        FakeYCloud(api_key="YC-KEY", webhook_secret="whsec_browser") as ycloud,
        FakeChatwoot(token="CW-API", account_id="3", inbox_id=12) as chatwoot,
    ):
        settings.YCLOUD_API_URL = ycloud.base_url
        Channel.objects.create(
            name="WhatsApp YCloud",
            provider="ycloud",
            external_id=BUSINESS,
            access_token="YC-KEY",
            app_secret="whsec_browser",
        )
        Channel.objects.create(
            name="Instagram Acme",
            provider="chatwoot",
            external_id="12",
            base_url=chatwoot.base_url,
            account_id="3",
            access_token="CW-API",
            verify_token=TOKEN,
        )
        chatwoot.webhooks.account_id = 3
        chatwoot.webhooks.now = time.time()
        webhook_secrets_clear()
        yield ycloud, chatwoot
        webhook_secrets_clear()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@pytest.fixture
def boss() -> User:
    return User.objects.create_superuser(username="jefe", password="clave-jefe-123", first_name="Ana")


def test_a_whatsapp_and_an_instagram_customer_in_one_console_each_answered_through_its_provider(
    providers: tuple[FakeYCloud, FakeChatwoot],
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,
) -> None:
    ycloud, chatwoot = providers
    errors = watch_errors(page)
    log_in(page, console_server.url, "jefe", "clave-jefe-123")

    event = ycloud.inbound_text_event("Hola, ¿hacen envíos a Cali?", to=BUSINESS, name="Laura Martínez")
    assert _post(console_server.url + "/webhooks/ycloud/", *ycloud.signed_delivery(event)) == 200
    body, headers = chatwoot.webhooks.deliver(chatwoot.webhooks.incoming_text("¿Tienen la mesa en roble?"))
    assert _post(console_server.url + f"/webhooks/chatwoot/?token={TOKEN}", body, headers) == 200

    laura = page.locator(".chat", has_text="Laura Martínez")
    sofia = page.locator(".chat", has_text=chatwoot.webhooks.contact_name)
    expect(laura).to_be_visible(timeout=TIMEOUT)
    expect(sofia).to_be_visible(timeout=TIMEOUT)
    expect(sofia.locator(".platform-instagram")).to_have_text("Instagram")
    expect(laura.locator(".platform")).to_have_count(0)  # WhatsApp, the usual case, needs no chip
    shot(page, "channels-list-es")

    # The Instagram customer: the agent takes over and answers; the post reaches Chatwoot's conversation.
    sofia.locator("button").click()
    expect(page.locator(".chat-sub")).to_contain_text("Instagram · Instagram Acme", timeout=TIMEOUT)
    page.locator("[data-action=takeover]").click()
    expect(page.locator("[data-action=release]")).to_be_visible(timeout=TIMEOUT)
    chatwoot.reset()
    box = page.locator("[data-compose]")
    box.fill("Sí, en roble natural. ¿Qué medida buscas?")
    box.press("Enter")
    sent = chatwoot.wait_for_sent(1, timeout=15)
    assert sent[0]["conversation_id"] == "42"
    assert sent[0]["json"]["content"] == "Sí, en roble natural. ¿Qué medida buscas?"
    mine = page.locator(".msg.out", has_text="¿Qué medida buscas?")
    expect(mine.locator(".ticks")).to_have_attribute("data-status", "sent", timeout=TIMEOUT)
    # Chatwoot sends it back as the agent's outgoing message: recognised by its id, shown once.
    body, headers = chatwoot.webhooks.deliver(chatwoot.webhooks.echo(sent[0], sender_type="user"))
    assert _post(console_server.url + f"/webhooks/chatwoot/?token={TOKEN}", body, headers) == 200
    wait_for(lambda: WebhookDelivery.objects.filter(provider="chatwoot", state="processed").count() == 2)
    assert Message.objects.filter(text__endswith="¿Qué medida buscas?").count() == 1  # the echo stored nothing
    expect(page.locator(".msg.out", has_text="¿Qué medida buscas?")).to_have_count(1)
    shot(page, "channels-instagram-reply-es")

    # The WhatsApp customer through YCloud, in the same console.
    laura.locator("button").click()
    expect(page.locator(".msg.in", has_text="¿hacen envíos a Cali?")).to_be_visible(timeout=TIMEOUT)
    page.locator("[data-action=takeover]").click()
    expect(page.locator("[data-action=release]")).to_be_visible(timeout=TIMEOUT)
    ycloud_before = len(ycloud.sent)
    box.fill("Sí, enviamos a Cali en 48 horas.")
    box.press("Enter")
    sent_yc = wait_for(lambda: ycloud.sent[ycloud_before:], timeout=15)
    assert sent_yc[0]["json"]["to"] == "+573001112233"
    assert sent_yc[0]["json"]["text"]["body"] == "Sí, enviamos a Cali en 48 horas."
    reply = page.locator(".msg.out", has_text="enviamos a Cali")
    expect(reply.locator(".ticks")).to_have_attribute("data-status", "sent", timeout=TIMEOUT)
    _post(console_server.url + "/webhooks/ycloud/", *ycloud.signed_delivery(ycloud.status_event(sent_yc[0], "read")))
    expect(reply.locator(".ticks")).to_have_attribute("data-status", "read", timeout=TIMEOUT)

    # The channel filter: only the Instagram inbox's chats.
    page.select_option("[data-filter-channel]", label="Instagram Acme")
    expect(laura).to_have_count(0, timeout=TIMEOUT)
    expect(sofia).to_be_visible()
    shot(page, "channels-filter-es")
    page.select_option("[data-filter-channel]", value="")
    expect(laura).to_be_visible(timeout=TIMEOUT)
    assert errors == []


def test_the_admin_says_what_a_chatwoot_or_ycloud_channel_lacks_and_where_its_webhook_goes(
    live_server: Any,
    page: Any,  # noqa: F811
    settings: Any,
) -> None:
    from pathlib import Path

    from whatsapp_ia.tests.admin_pages import visible_texts
    from whatsapp_ia.tests.test_admin_site import english_leftovers

    shots = Path(__file__).resolve().parents[2] / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    settings.CHATWOOT_URL = settings.CHATWOOT_API_TOKEN = settings.CHATWOOT_WEBHOOK_SECRET = ""
    inbox = Channel.objects.create(name="Instagram Acme", provider="chatwoot", external_id="12")
    number = Channel.objects.create(
        name="WhatsApp YCloud", provider="ycloud", external_id=BUSINESS, access_token="k", app_secret="whsec_x"
    )
    User.objects.create_superuser(username="root", password="admin-pass-123")
    page.goto(live_server.url + "/accounts/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "admin-pass-123")
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(live_server.url + "/admin/")

    page.goto(f"{live_server.url}/admin/conversations/channel/{inbox.pk}/change/")
    problems = page.locator(".channel-problems li")
    expect(problems.first).to_be_visible()
    texts = problems.all_inner_texts()
    assert any("CHATWOOT_API_TOKEN" in t for t in texts) and any("CHATWOOT_URL" in t for t in texts)
    assert any("CHATWOOT_WEBHOOK_SECRET" in t for t in texts)
    expect(page.locator(".field-webhook_url code")).to_contain_text("/webhooks/chatwoot/?token=")
    assert english_leftovers(visible_texts(page.content())) == []
    page.screenshot(path=str(shots / "admin-channel-chatwoot-es.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/conversations/channel/{number.pk}/change/")
    expect(page.locator(".channel-ready")).to_contain_text("Listo")
    expect(page.locator(".field-webhook_url code")).to_have_text(live_server.url + "/webhooks/ycloud/")
    page.screenshot(path=str(shots / "admin-channel-ycloud-es.png"), full_page=True)

    # The list says at a glance which channels are ready.
    page.goto(f"{live_server.url}/admin/conversations/channel/")
    ready = page.locator("tr", has_text="WhatsApp YCloud").locator("td.field-ready img")
    expect(ready).to_have_attribute("alt", "True")
    expect(page.locator("tr", has_text="Instagram Acme").locator("td.field-ready img")).to_have_attribute(
        "alt", "False"
    )
