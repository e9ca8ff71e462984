"""In real Chromium: a failed reply's reason in the console and on the conversation page; test chats behind a toggle."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from conversations.models import Channel, Contact, Conversation, Message
from conversations.services import attention
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _data() -> Conversation:
    now = timezone.now()
    real = Channel.objects.create(name="Ventas", provider="meta", external_id="1065")
    sim = Channel.objects.create(name="Simulador", provider="simulator", external_id="simulator")
    laura = Contact.objects.create(provider="meta", external_id="573001112233", profile_name="Laura Gómez")
    tester = Contact.objects.create(provider="simulator", external_id="573000000000", profile_name="Probador")
    failed = Conversation.objects.create(
        contact=laura,
        channel=real,
        step="menu",
        last_activity_at=now,
        last_message_preview="¿tienen granito negro?",
        needs_attention=True,
        attention_reason=attention.REASON_SEND_NO_TOKEN,
    )
    Message.objects.create(
        conversation=failed,
        direction="out",
        kind="text",
        text="¡Hola! 👋 Bienvenido a Mesones del Valle.",
        provider="meta",
        status="failed",
        attempts=1,
        error_code="config",
        error_message="channel 1065 has no access token",
    )
    Conversation.objects.create(contact=tester, channel=sim, step="catalogo", last_activity_at=now)
    return failed


def _log_in(page: Any, base_url: str, language: str) -> None:  # noqa: F811
    page.context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", "jefe")
    page.fill("#id_password", "clave-jefe-123")
    with page.expect_navigation():
        page.locator("button[type=submit], input[type=submit]").first.click()


@pytest.mark.parametrize(
    ("language", "reason", "toggle", "test_pill"),
    [
        ("es", "No se pudo enviar una respuesta: el canal no tiene token de acceso", "Chats de prueba",
         "chat de prueba"),
        ("en", "A reply could not be sent: the channel has no access token", "Test chats", "test chat"),
    ],
)  # fmt: skip
def test_the_console_and_the_conversation_page_explain_a_failed_reply(
    live_server: Any,
    page: Any,  # noqa: F811
    language: str,
    reason: str,
    toggle: str,
    test_pill: str,
) -> None:
    failed = _data()
    User.objects.create_superuser(username="jefe", password="clave-jefe-123")
    SHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page, live_server.url, language)

    page.goto(live_server.url + "/")  # the console (this WSGI server has no websocket: it loads without one)
    laura = page.locator(".chat", has_text="Laura Gómez")
    expect(laura.locator(".attention")).to_have_attribute("title", re.compile(re.escape(reason)))  # reason on hover
    expect(page.locator(".chat", has_text="Probador")).to_be_hidden()
    page.get_by_role("button", name=toggle).click()
    expect(page.locator(".chat", has_text="Probador")).to_contain_text(test_pill)
    page.screenshot(path=str(SHOTS / f"console-test-chats-{language}.png"))

    laura.locator("button").click()
    expect(page.locator("[data-chat-banner]")).to_contain_text(reason)
    expect(page.locator(".msg.out .failure")).to_contain_text("channel 1065 has no access token")
    page.screenshot(path=str(SHOTS / f"console-attention-{language}.png"))

    page.goto(f"{live_server.url}/admin/conversations/conversation/{failed.pk}/change/")
    assert reason in page.locator(".field-attention").inner_text()
    assert reason in page.locator("td.field-failure").first.inner_text()
    page.screenshot(path=str(SHOTS / f"conversation-attention-{language}.png"), full_page=True)


def test_the_message_page_says_why_it_failed_under_its_status(live_server: Any, page: Any) -> None:  # noqa: F811
    failed = _data()
    message = failed.messages.get()
    User.objects.create_superuser(username="jefe", password="clave-jefe-123")
    SHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page, live_server.url, "es")

    page.goto(f"{live_server.url}/admin/conversations/message/{message.pk}/change/")

    failure = page.locator(".field-failure")
    assert "No se pudo enviar una respuesta: el canal no tiene token de acceso" in failure.inner_text()
    assert "Detalle del proveedor: [config] channel 1065 has no access token" in failure.inner_text()
    rows = page.locator("fieldset .form-row").evaluate_all("rows => rows.map(r => r.className)")
    status_row = next(i for i, name in enumerate(rows) if "field-status" in name)
    assert "field-failure" in rows[status_row + 1]  # right under "Fallido"
    page.screenshot(path=str(SHOTS / "message-failed-es.png"), full_page=True)
