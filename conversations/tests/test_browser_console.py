"""The live agent console in real Chromium, against the whole app (Daphne: HTTP + websocket) and the
local Graph server: chats appear as webhooks arrive, replies reach the provider, ticks follow the
status webhooks, voice notes play, quick replies, role filters, take over/release, templates outside
the 24-hour window, hostile text shown as text; in Spanish and English. Screenshots: var/screenshots/console/."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import ChatRole, Role, User
from conftest import load_fixture, wait_for
from conversations.models import Channel, Contact, Conversation, Message
from conversations.tests import conftest as conversations_fixtures
from conversations.tests.conftest import PHONE_NUMBER_ID
from conversations.tests.console_browser import (
    console_server,  # noqa: F401  (fixture)
    log_in,
    shot,
    text_payload,
    voice_note_ogg,
    watch_errors,
)
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

fake_graph = conversations_fixtures.fake_graph
meta_settings = conversations_fixtures.meta_settings
TIMEOUT = 15_000  # ms: how long the page may take to show work done by the server and the worker


@pytest.fixture
def boss() -> User:
    return User.objects.create_superuser(username="jefe", password="clave-jefe-123", first_name="Ana")


def _chat(name: str, wa_id: str, *, inbound_ago: timedelta | None = timedelta(minutes=5), **fields: Any) -> Any:
    channel, _ = Channel.objects.get_or_create(
        provider="meta", external_id=PHONE_NUMBER_ID, defaults={"name": "Ventas"}
    )
    contact = Contact.objects.create(provider="meta", external_id=wa_id, profile_name=name)
    now = timezone.now()
    return Conversation.objects.create(
        contact=contact,
        channel=channel,
        step="inicio",
        last_activity_at=now,
        last_inbound_at=now - inbound_ago if inbound_ago is not None else None,
        **fields,
    )


def test_a_chat_appears_live_the_agent_answers_and_the_ticks_follow_the_provider(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,
) -> None:
    errors = watch_errors(page)
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    expect(page.locator("[data-empty]")).to_contain_text("Todavía no hay conversaciones", timeout=TIMEOUT)

    # a customer writes: the chat appears without a reload
    assert console_server.post_webhook(text_payload("Hola, ¿tienen granito negro?", n=1)) == 200
    row = page.locator(".chat", has_text="Laura Martínez")
    expect(row).to_be_visible(timeout=TIMEOUT)
    # its preview follows the chat's last message (the customer's, or the bot's answer once it is sent)
    wait_for(
        lambda: row.locator(".preview").inner_text() == Conversation.objects.get().last_message_preview,
        message=lambda: (
            f"{row.locator('.preview').inner_text()!r} != {Conversation.objects.get().last_message_preview!r}"
        ),
    )
    expect(page).to_have_title("(1) Consola · WhatsApp IA")  # one chat with unread messages
    shot(page, "list-new-chat-es")

    # opening it shows the message and marks it read
    row.locator("button").click()
    expect(page.locator(".msg.in").first).to_contain_text("¿tienen granito negro?", timeout=TIMEOUT)
    conversation = Conversation.objects.get()
    wait_for(lambda: Conversation.objects.get().unread_count == 0, message="the chat was not marked read")
    wait_for(lambda: fake_graph.read_marks, message="the customer's message was not marked read at the provider")
    expect(page).to_have_title("Consola · WhatsApp IA")

    # the agent takes over and answers with Enter: the text reaches the Graph server
    fake_graph.reset()
    page.locator("[data-action=takeover]").click()
    expect(page.locator("[data-action=release]")).to_be_visible(timeout=TIMEOUT)
    box = page.locator("[data-compose]")
    box.fill("Sí, tenemos granito negro.")
    box.press("Shift+Enter")
    box.type("¿Qué medidas necesitas?")
    box.press("Enter")
    sent = fake_graph.wait_for_sent(1, timeout=15)
    assert sent[0]["json"]["type"] == "text"
    assert sent[0]["json"]["text"]["body"] == "Sí, tenemos granito negro.\n¿Qué medidas necesitas?"
    assert sent[0]["json"]["to"] == "573001112233"
    mine = page.locator(".msg.out", has_text="¿Qué medidas necesitas?")
    expect(mine.locator(".ticks")).to_have_attribute("data-status", "sent", timeout=TIMEOUT)
    expect(box).to_have_value("")

    # Meta's status webhooks move the ticks live
    console_server.post_webhook(fake_graph.status_webhook(sent[0], "delivered"))
    expect(mine.locator(".ticks")).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
    console_server.post_webhook(fake_graph.status_webhook(sent[0], "read"))
    expect(mine.locator(".ticks")).to_have_attribute("data-status", "read", timeout=TIMEOUT)
    shot(page, "chat-reply-read-es")

    # another message while the chat is open appears at once
    console_server.post_webhook(text_payload("Dos metros por sesenta", n=2))
    expect(page.locator(".msg.in", has_text="Dos metros por sesenta")).to_be_visible(timeout=TIMEOUT)

    # release to the bot
    page.locator("[data-action=release]").click()
    expect(page.locator("[data-action=takeover]")).to_be_visible(timeout=TIMEOUT)
    wait_for(lambda: Conversation.objects.get(pk=conversation.pk).status != "human", message="not released")
    assert errors == []


def test_a_voice_note_plays_with_its_transcription(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,
    tmp_path: Path,
) -> None:
    errors = watch_errors(page)
    audio = voice_note_ogg(tmp_path)
    payload = load_fixture("meta", "message__audio_voice_note")
    media = payload["entry"][0]["changes"][0]["value"]["messages"][0]["audio"]
    media["sha256"] = base64.b64encode(hashlib.sha256(audio).digest()).decode()
    fake_graph.add_media(media["id"], audio, "audio/ogg")
    assert console_server.post_webhook(payload) == 200
    message = wait_for(
        lambda: Message.objects.filter(kind="audio").exclude(media_file="").first(),
        timeout=20,
        message="the voice note was not downloaded",
    )
    Message.objects.filter(pk=message.pk).update(transcription="Quiero saber el precio del metro")

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{message.conversation_id}")
    player = page.locator(".msg.in audio")
    expect(player).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".transcription")).to_contain_text("Quiero saber el precio del metro")
    player.evaluate("audio => { audio.muted = true; return audio.play(); }")
    page.wait_for_function("() => document.querySelector('.msg.in audio').currentTime > 0", timeout=TIMEOUT)
    assert player.evaluate("audio => audio.duration") > 0.5
    shot(page, "voice-note-es")
    assert errors == []


def test_a_quick_reply_with_media_reaches_the_provider(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,
) -> None:
    from flows.models import QuickReply, QuickReplyMedia

    errors = watch_errors(page)
    chat = _chat("Laura Martínez", "573001112233")
    reply = QuickReply.objects.create(title="Catálogo", text="Te comparto nuestro catálogo 📄")
    QuickReplyMedia.objects.create(quick_reply=reply, media_type="image", url="https://example.com/catalogo.jpg")
    QuickReply.objects.create(title="Horario", text="Atendemos de 8 a 6")

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    box = page.locator("[data-compose]")
    expect(box).to_be_enabled(timeout=TIMEOUT)
    box.fill("/cat")
    item = page.locator(".qr-item", has_text="Catálogo")
    expect(item).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".qr-item")).to_have_count(1)
    shot(page, "quick-replies-es")
    item.click()
    sent = fake_graph.wait_for_sent(2, timeout=15)
    kinds = sorted(s["json"]["type"] for s in sent)
    assert kinds == ["image", "text"], sent
    assert any(s["json"].get("text", {}).get("body") == "Te comparto nuestro catálogo 📄" for s in sent)
    expect(page.locator(".msg.out", has_text="Te comparto nuestro catálogo")).to_be_visible(timeout=TIMEOUT)
    expect(box).to_have_value("")
    assert errors == []


def test_an_agent_filters_by_role_and_sees_only_the_chats_of_their_roles(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    errors = watch_errors(page)
    ventas, soporte, cobros = (Role.objects.create(name=n, keyword=n.lower()) for n in ("Ventas", "Soporte", "Cobros"))
    agent = User.objects.create_user(username="agente", password="clave-agente-123", first_name="Beto")
    agent.roles.add(ventas, soporte)
    for name, wa_id, role in (("Laura", "573001", ventas), ("Mario", "573002", soporte), ("Oculto", "573003", cobros)):
        ChatRole.objects.create(conversation=_chat(name, wa_id), role=role)

    log_in(page, console_server.url, "agente", "clave-agente-123")
    names = page.locator(".chat .name")
    expect(names).to_have_count(2, timeout=TIMEOUT)
    # Read once their text is drawn (a CI run under load read two rows still without it); never the third chat.
    wait_for(
        lambda: sorted(names.all_inner_texts()) == ["Laura", "Mario"],
        message=lambda: f"chat names: {names.all_inner_texts()}",
    )
    assert names.count() == 2  # never the chat of a role they lack
    assert page.locator("[data-filter-role] option").all_inner_texts() == ["Todos los roles", "Soporte", "Ventas"]

    page.select_option("[data-filter-role]", str(soporte.pk))
    expect(names).to_have_count(1, timeout=TIMEOUT)
    expect(names.first).to_have_text("Mario")
    shot(page, "filter-role-es")
    page.select_option("[data-filter-role]", "")
    expect(names).to_have_count(2, timeout=TIMEOUT)

    page.locator("[data-search]").fill("lau")
    expect(names).to_have_count(1, timeout=TIMEOUT)
    expect(names.first).to_have_text("Laura")
    assert errors == []


def test_an_agent_without_the_role_gets_nothing_by_url_or_api(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    ventas, cobros = (Role.objects.create(name=n, keyword=n.lower()) for n in ("Ventas", "Cobros"))
    agent = User.objects.create_user(username="agente", password="clave-agente-123", first_name="Beto")
    agent.roles.add(ventas)
    hidden = _chat("Oculto", "573003")
    ChatRole.objects.create(conversation=hidden, role=cobros)
    Message.objects.create(conversation=hidden, direction="in", kind="text", text="secreto", provider="meta")

    log_in(page, console_server.url, "agente", "clave-agente-123")
    page.goto(f"{console_server.url}/#chat-{hidden.pk}")

    expect(page.locator(".toast.error")).to_have_text("Este chat ya no está disponible para ti.", timeout=TIMEOUT)
    expect(page.locator("[data-placeholder]")).to_be_visible()  # back to "choose a chat": nothing of it shows
    expect(page.locator("[data-chat]")).to_be_hidden()
    assert "secreto" not in page.content() and "Oculto" not in page.content()
    for url in (f"/api/conversations/{hidden.pk}/", f"/api/conversations/{hidden.pk}/messages/"):
        assert page.request.get(console_server.url + url).status == 404
    shot(page, "foreign-chat-by-url-es")


def test_the_template_picker_outside_the_24_hour_window(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,
) -> None:
    from conversations.models import MessageTemplate

    errors = watch_errors(page)
    chat = _chat("Laura Martínez", "573001112233", inbound_ago=timedelta(days=2))
    MessageTemplate.objects.create(
        channel=chat.channel,
        name="seguimiento_cotizacion",
        language="es",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Hola {{1}}, ¿pudiste revisar la cotización {{2}}?"}],
        variables=[
            {"key": "body.1", "component": "body", "name": "1", "type": "text", "example": "Laura"},
            {"key": "body.2", "component": "body", "name": "2", "type": "text", "example": "N.º 17"},
        ],
        synced_at=timezone.now(),
    )

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    notice = page.locator(".window-closed")
    expect(notice).to_contain_text("La ventana de 24 horas está cerrada.", timeout=TIMEOUT)
    expect(page.locator("[data-compose]")).to_be_disabled()
    shot(page, "window-closed-es")

    page.locator("[data-template-picker]").click()
    page.select_option("[data-template-select]", label="seguimiento_cotizacion · es · UTILITY")
    page.fill("[data-variable='body.1']", "Laura")
    page.fill("[data-variable='body.2']", "N.º 17")
    expect(page.locator(".template-preview")).to_have_text("Hola Laura, ¿pudiste revisar la cotización N.º 17?")
    shot(page, "template-picker-es")
    page.locator("dialog button[type=submit]").click()
    sent = fake_graph.wait_for_sent(1, timeout=15)
    body = sent[0]["json"]
    assert body["type"] == "template"
    assert body["template"]["name"] == "seguimiento_cotizacion"
    texts = [p["text"] for c in body["template"]["components"] for p in c.get("parameters", [])]
    assert texts == ["Laura", "N.º 17"]
    expect(page.locator("dialog")).to_have_count(0)
    assert errors == []


def test_the_template_picker_names_header_and_button_variables_in_spanish(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,
) -> None:
    from conversations.models import MessageTemplate
    from conversations.services.templates import template_variables

    chat = _chat("Laura Martínez", "573001112233", inbound_ago=timedelta(days=2))
    promo = next(t for t in load_fixture("meta", "templates__list")["data"] if t["name"] == "promo_cubiertas")
    MessageTemplate.objects.create(
        channel=chat.channel,
        name=promo["name"],
        language=promo["language"],
        category=promo["category"],
        status="APPROVED",
        components=promo["components"],
        variables=template_variables(promo["components"]),
        synced_at=timezone.now(),
    )
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    page.locator("[data-template-picker]").click()
    page.select_option("[data-template-select]", label="promo_cubiertas · es · MARKETING")
    labels = page.locator("dialog .template-vars .field-label")
    expect(labels).to_have_text(
        ["Encabezado: imagen (enlace)", "Variable {{1}}", "Variable {{2}}", "Variable del botón {{1}}"]
    )
    shot(page, "template-picker-header-button-es")


def test_hostile_names_and_text_are_shown_as_text(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,
) -> None:
    errors = watch_errors(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    hostile_name = "<img src=x onerror=alert(1)>"
    payload = text_payload("<script>alert('x')</script>", n=1, wa_id="573009999999", name=hostile_name)
    assert console_server.post_webhook(payload) == 200

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    row = page.locator(".chat")
    expect(row.locator(".name")).to_have_text(hostile_name, timeout=TIMEOUT)
    row.locator("button").click()
    expect(page.locator(".msg.in .text")).to_have_text("<script>alert('x')</script>", timeout=TIMEOUT)
    expect(page.locator("[data-chat-name]")).to_contain_text(hostile_name)
    assert page.locator("[data-console] img").count() == 0  # the name became no element
    assert page.locator("[data-messages] script").count() == 0
    shot(page, "hostile-es")
    assert dialogs == [] and errors == []


def test_hostile_captions_file_names_locations_contacts_and_referrals_are_text(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,
) -> None:
    errors = watch_errors(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    evil = "<img src=x onerror=alert(1)>"
    chat = _chat(evil, "573001112233")
    common = {"conversation": chat, "direction": "in", "provider": "meta"}
    Message.objects.create(
        **common, kind="document", caption=f"caption {evil}", data={"media": {"filename": f"{evil}.pdf"}}
    )
    Message.objects.create(
        **common, kind="location", data={"latitude": 4.6, "longitude": -74.08, "name": f"place {evil}", "address": evil}
    )
    Message.objects.create(
        **common,
        kind="contacts",
        data={"contacts": [{"name": {"formatted_name": f"contact {evil}"}, "phones": [{"phone": evil}]}]},
    )
    Message.objects.create(
        **common,
        kind="referral",
        text="Vi el anuncio",
        data={"referral": {"headline": f"ad {evil}", "body": "<script>alert(2)</script>",
                           "source_url": "javascript:alert(3)", "source_type": "ad"}},
    )  # fmt: skip

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator(".msg")).to_have_count(4, timeout=TIMEOUT)
    expect(page.locator(".kind-document")).to_contain_text(f"caption {evil}")
    expect(page.locator(".kind-location .card-title")).to_have_text(f"place {evil}")
    expect(page.locator(".kind-location .card-sub")).to_have_text(evil)
    expect(page.locator(".kind-contacts .card-title")).to_have_text(f"contact {evil}")
    expect(page.locator(".kind-referral .card-title")).to_have_text(f"ad {evil}")
    expect(page.locator(".kind-referral .card-sub")).to_have_text("<script>alert(2)</script>")
    assert page.locator(".kind-referral a[href^='javascript']").count() == 0  # a javascript: link is dropped
    assert page.locator("[data-messages] img, [data-messages] script").count() == 0
    shot(page, "hostile-cards-es")
    assert dialogs == [] and errors == []


def test_a_hostile_customer_through_real_webhooks_is_text_everywhere(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,
) -> None:
    """The parsers' own summaries (a location's, a contact card's), a document's file name and an ad's
    fields, as Meta sends them: text in the list, the chat, the page title and the admin."""
    errors = watch_errors(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    evil = "<img src=x onerror=alert(1)>"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    fake_graph.add_media("DOC-EVIL", pdf, "application/pdf")

    def deliver(n: int, message: dict[str, Any]) -> None:
        payload = text_payload("x", n=n, name=evil)
        value = payload["entry"][0]["changes"][0]["value"]
        value["messages"] = [{**value["messages"][0], **message}]
        value["messages"][0].pop("text", None) if message.get("type") != "text" else None
        assert console_server.post_webhook(payload) == 200

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    deliver(1, {"type": "text", "text": {"body": "<script>alert(2)</script>"}})
    row = page.locator(".chat", has_text=evil)
    expect(row.locator(".name")).to_have_text(evil, timeout=TIMEOUT)
    row.locator("button").first.click()
    expect(page.locator(".msg.in", has_text="<script>alert(2)</script>")).to_be_visible(timeout=TIMEOUT)
    sha = base64.b64encode(hashlib.sha256(pdf).digest()).decode()
    deliver(
        2,
        {
            "type": "document",
            "document": {
                "id": "DOC-EVIL",
                "filename": f"{evil}.pdf",
                "caption": f"c {evil}",
                "mime_type": "application/pdf",
                "sha256": sha,
            },
        },
    )
    deliver(
        3,
        {
            "type": "location",
            "location": {
                "latitude": 4.6,
                "longitude": -74.08,
                "name": f"p {evil}",
                "address": "<b>calle</b>",
                "url": "javascript:alert(3)",
            },
        },
    )
    deliver(
        4,
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {"formatted_name": f"k {evil}"},
                    "phones": [{"phone": "<b>310</b>"}],
                    "emails": [{"email": "javascript:alert(4)"}],
                }
            ],
        },
    )
    deliver(5, {"type": "text", "text": {"body": "vi el anuncio"},
                "referral": {"source_url": "javascript:alert(5)", "source_type": "ad", "headline": f"h {evil}",
                             "body": "<script>alert(6)</script>", "image_url": "javascript:alert(7)"}})  # fmt: skip

    expect(page.locator(".kind-document .doc-name")).to_have_text(f"{evil}.pdf", timeout=TIMEOUT)
    expect(page.locator(".kind-document")).to_contain_text(f"c {evil}")
    location = page.locator(".kind-location")
    expect(location.locator(".card-title")).to_have_text(f"p {evil}", timeout=TIMEOUT)
    assert location.inner_text().count(f"p {evil}") == 1  # the card, not the parser's summary beside it
    contact = page.locator(".kind-contacts")
    expect(contact.locator(".card-title")).to_have_text(f"k {evil}", timeout=TIMEOUT)
    assert contact.inner_text().count(f"k {evil}") == 1
    expect(page.locator(".card-referral .card-title")).to_have_text(f"h {evil}", timeout=TIMEOUT)
    expect(page.locator(".card-referral .card-sub")).to_have_text("<script>alert(6)</script>")
    expect(page.locator("[data-chat-name]")).to_contain_text(evil)
    assert page.locator("[data-messages] a[href^='javascript'], [data-messages] img[src^='javascript']").count() == 0
    assert page.locator("[data-messages] script, [data-chat-list] img, [data-chat-list] script").count() == 0
    shot(page, "hostile-webhooks-es")

    chat = Conversation.objects.get(contact__external_id="573001112233")
    page.goto(f"{console_server.url}/admin/conversations/conversation/{chat.pk}/change/")
    expect(page.locator("#content")).to_contain_text(f"p {evil}")
    assert page.locator("#content img[src='x']").count() == 0
    assert dialogs == [] and errors == []


def test_the_console_in_english(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,
) -> None:
    errors = watch_errors(page)
    chat = _chat("Laura Martínez", "573001112233")
    Message.objects.create(conversation=chat, direction="in", kind="text", text="Hello!", provider="meta")
    log_in(page, console_server.url, "jefe", "clave-jefe-123", language="en")
    expect(page.locator("[data-search]")).to_have_attribute("placeholder", "Search name, alias, number or text")
    page.locator(".chat button").first.click()
    expect(page.locator("[data-action=takeover]")).to_have_text("Take over", timeout=TIMEOUT)
    expect(page.locator("[data-compose]")).to_have_attribute("placeholder", "Type a message")
    page.locator("[aria-haspopup=menu]").click()
    expect(page.locator("[data-action=export-csv]")).to_have_text("Export CSV")
    shot(page, "chat-menu-en")
    page.keyboard.press("Escape")
    assert errors == []
