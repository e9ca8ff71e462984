"""More of the console in real Chromium: attachments, buttons messages, reactions, presence, chat actions,
older history on scroll, and a phone-sized screen. Screenshots: var/screenshots/console/."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Role, User
from conftest import load_fixture, wait_for
from conversations.models import Conversation, Message
from conversations.tests import conftest as conversations_fixtures
from conversations.tests.console_browser import (  # noqa: F401
    console_server,
    log_in,
    shot,
    voice_note_ogg,
    watch_errors,
)
from conversations.tests.test_browser_console import TIMEOUT, _chat, boss  # noqa: F401  (fixture)
from whatsapp_ia.tests.browser import ARGS, CHROMIUM, page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

fake_graph = conversations_fixtures.fake_graph
meta_settings = conversations_fixtures.meta_settings


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (18, 140, 126)).save(out, format="PNG")
    return out.getvalue()


def test_an_agent_sends_a_photo_with_a_caption_and_a_buttons_message(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,  # noqa: F811
    tmp_path: Path,
) -> None:
    errors = watch_errors(page)
    chat = _chat("Laura Martínez", "573001112233")
    photo = tmp_path / "mesón <negro>.png"
    photo.write_bytes(_png())
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    box = page.locator("[data-compose]")
    expect(box).to_be_enabled(timeout=TIMEOUT)

    page.locator("[data-composer] input[type=file]").set_input_files(str(photo))
    expect(page.locator(".attachment-name")).to_have_text("mesón <negro>.png")
    box.fill("Así quedaría tu cocina")
    shot(page, "attachment-es")
    box.press("Enter")
    sent = fake_graph.wait_for_sent(1, timeout=15)
    assert [s["json"]["type"] for s in sent] == ["image"]
    assert sent[0]["json"]["image"]["caption"] == "Así quedaría tu cocina"
    assert len(fake_graph.uploads) == 1  # by upload (a media id), never a public link
    bubble = page.locator(".msg.out.kind-image")
    expect(bubble.locator("img")).to_be_visible(timeout=TIMEOUT)
    expect(bubble).to_contain_text("Así quedaría tu cocina")
    wait_for(lambda: bubble.locator("img").evaluate("img => img.naturalWidth") == 64, message="image not loaded")

    # a buttons message from the builder
    page.locator("[data-composer] button[aria-label='Enviar botones o una lista']").click()
    dialog = page.locator("dialog")
    dialog.locator("textarea[name=text]").fill("¿Confirmas la visita del martes?")
    dialog.locator("input[name=title]").nth(0).fill("Sí")
    dialog.locator("input[name=title]").nth(1).fill("Otro día")
    shot(page, "buttons-builder-es")
    dialog.locator("button[type=submit]").click()
    sent = fake_graph.wait_for_sent(2, timeout=15)
    interactive = sent[1]["json"]["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"]["text"] == "¿Confirmas la visita del martes?"
    assert [b["reply"]["title"] for b in interactive["action"]["buttons"]] == ["Sí", "Otro día"]
    expect(page.locator(".msg.out .i-button")).to_have_text(["Sí", "Otro día"], timeout=TIMEOUT)
    assert errors == []


def test_a_file_whatsapp_refuses_gets_a_clear_error(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,  # noqa: F811
    tmp_path: Path,
) -> None:
    chat = _chat("Laura Martínez", "573001112233")
    script = tmp_path / "virus.exe"
    script.write_bytes(b"MZ\x90\x00" + b"\x00" * 200)
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator("[data-compose]")).to_be_enabled(timeout=TIMEOUT)
    page.locator("[data-composer] input[type=file]").set_input_files(str(script))
    page.locator("[data-compose]").press("Enter")
    expect(page.locator(".toast.error")).to_contain_text("WhatsApp", timeout=TIMEOUT)
    assert fake_graph.sent == []
    assert not Message.objects.filter(direction="out").exists()


def test_a_file_whose_content_is_not_its_extension_is_refused_in_the_agents_words(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,  # noqa: F811
    tmp_path: Path,
) -> None:
    chat = _chat("Laura Martínez", "573001112233")
    liar = tmp_path / "foto.png"
    liar.write_text("no soy una imagen, soy texto")
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator("[data-compose]")).to_be_enabled(timeout=TIMEOUT)
    page.locator("[data-composer] input[type=file]").set_input_files(str(liar))
    page.locator("[data-compose]").press("Enter")
    toast = page.locator(".toast.error")
    expect(toast).to_contain_text("WhatsApp no acepta este tipo de archivo", timeout=TIMEOUT)
    assert not re.search(r"\bfile:", toast.inner_text())  # the API's English field name stays out of it
    shot(page, "refused-file-es")
    assert fake_graph.sent == []
    assert not Message.objects.filter(direction="out").exists()


def test_a_voice_note_that_arrives_in_the_open_chat_becomes_playable_without_a_reload(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,  # noqa: F811
    tmp_path: Path,
) -> None:
    errors = watch_errors(page)
    chat = _chat("Laura Martínez", "573001112233")
    audio = voice_note_ogg(tmp_path)
    payload = load_fixture("meta", "message__audio_voice_note")
    media = payload["entry"][0]["changes"][0]["value"]["messages"][0]["audio"]
    media["sha256"] = base64.b64encode(hashlib.sha256(audio).digest()).decode()
    fake_graph.add_media(media["id"], audio, "audio/ogg")
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator("[data-compose]")).to_be_enabled(timeout=TIMEOUT)

    assert console_server.post_webhook(payload) == 200

    player = page.locator(".msg.in audio")
    expect(player).to_be_visible(timeout=TIMEOUT)  # the stored file reaches the open chat live
    player.evaluate("audio => { audio.muted = true; return audio.play(); }")
    page.wait_for_function("() => document.querySelector('.msg.in audio').currentTime > 0", timeout=TIMEOUT)
    shot(page, "voice-note-live-es")
    assert errors == []


@pytest.mark.parametrize(
    ("language", "reason"),
    [
        ("es", "No se pudo entregar una respuesta al número de este cliente."),
        ("en", "A reply could not be delivered to this customer's number."),
    ],
)
def test_a_reply_that_fails_live_says_why_in_the_agents_language(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
    language: str,
    reason: str,
) -> None:
    errors = watch_errors(page)
    chat = _chat("Laura Martínez", "573001112233")
    payload = load_fixture("meta", "status__failed_131026")
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    for n in range(30):  # a chat long enough to scroll
        Message.objects.create(conversation=chat, direction="in", kind="text", text=f"mensaje {n}", provider="meta")
    Message.objects.create(
        conversation=chat,
        direction="out",
        kind="text",
        text="¿Te llamo mañana?",
        provider="meta",
        provider_message_id=status["id"],
        status="sent",
    )
    log_in(page, console_server.url, "jefe", "clave-jefe-123", language=language)
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator(".msg.out")).to_have_count(1, timeout=TIMEOUT)

    assert console_server.post_webhook(payload) == 200

    expect(page.locator(".msg.out.status-failed")).to_have_count(1, timeout=TIMEOUT)
    # under the bubble too, in the agent's words, with the provider's own (English) detail kept after them
    expect(page.locator(".msg.out .failure")).to_contain_text(reason, timeout=TIMEOUT)
    expect(page.locator(".msg.out .failure")).to_contain_text("131026")
    expect(page.locator(".msg.out .failure")).to_be_in_viewport()  # the chat stays scrolled to its end
    expect(page.locator("[data-chat-banner]")).to_have_text(re.compile(re.escape(reason)), timeout=TIMEOUT)
    expect(page.locator(".chat .attention")).to_have_attribute("title", reason)
    shot(page, f"failed-live-{language}")
    assert errors == []


_BREAKABLE_WEBSOCKET = """
(() => {
  const Real = window.WebSocket;
  window.__sockets = [];
  window.__blockWs = false;  // while true, every (re)connection goes nowhere, like a lost network
  window.WebSocket = function (url, protocols) {
    const ws = new Real(window.__blockWs ? "ws://127.0.0.1:1/" : url, protocols);
    window.__sockets.push(ws);
    return ws;
  };
  window.WebSocket.prototype = Real.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})();
"""


def test_a_console_that_loses_its_connection_catches_up_once_back_with_no_gap_or_duplicate(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
) -> None:
    from conversations.tests.console_browser import text_payload

    chat = _chat("Laura Martínez", "573001112233")
    page.add_init_script(_BREAKABLE_WEBSOCKET)
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator("[data-compose]")).to_be_enabled(timeout=TIMEOUT)
    expect(page.locator("[data-console]")).to_have_attribute("data-connection", "live", timeout=TIMEOUT)

    page.evaluate("() => { window.__blockWs = true; window.__sockets.forEach((ws) => ws.close()); }")
    expect(page.locator(".connection")).to_contain_text("Reconectando", timeout=TIMEOUT)
    for n in range(3):  # one after the other: deliveries drained in two lanes at once may be stored in any order
        assert console_server.post_webhook(text_payload(f"mientras no estabas {n}", n=n)) == 200
        wait_for(lambda n=n: Message.objects.filter(direction="in").count() == n + 1, message="not stored")
    shot(page, "reconnecting-es")
    page.evaluate("() => { window.__blockWs = false; }")

    expect(page.locator("[data-console]")).to_have_attribute("data-connection", "live", timeout=TIMEOUT)
    missed = page.locator(".msg.in", has_text="mientras no estabas")
    expect(missed).to_have_count(3, timeout=TIMEOUT)
    expect(missed.locator(".text")).to_have_text([f"mientras no estabas {n}" for n in range(3)])
    expect(page.locator(".connection")).to_be_hidden()


def test_a_customers_reaction_shows_on_the_message_live(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    fake_graph: Any,
    boss: User,  # noqa: F811
) -> None:
    chat = _chat("Laura Martínez", "573001112233")
    ours = Message.objects.create(
        conversation=chat,
        direction="out",
        kind="text",
        text="El metro lineal cuesta $350.000",
        provider="meta",
        provider_message_id="wamid.OURS1",
        status="delivered",
    )
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    bubble = page.locator(f"#m-{ours.pk}")
    expect(bubble).to_be_visible(timeout=TIMEOUT)

    payload = load_fixture("meta", "message__reaction")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"] = "wamid.OURS1"
    console_server.post_webhook(payload)
    expect(bubble.locator(".reactions")).to_have_text("👍", timeout=TIMEOUT)
    expect(page.locator(".msg.kind-reaction")).to_have_count(0)  # not a bubble of its own


def test_agents_see_who_else_is_viewing_the_chat(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
) -> None:
    chat = _chat("Laura Martínez", "573001112233")
    User.objects.create_superuser(username="beto", password="clave-beto-123", first_name="Beto")
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator("[data-chat-name]")).to_be_visible(timeout=TIMEOUT)

    other_context = page.context.browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = other_context.new_page()
        log_in(other, console_server.url, "beto", "clave-beto-123")
        other.goto(f"{console_server.url}/#chat-{chat.pk}")
        expect(other.locator("[data-presence]")).to_have_text("También viendo: Ana", timeout=TIMEOUT)
        expect(page.locator("[data-presence]")).to_have_text("También viendo: Beto", timeout=TIMEOUT)
        shot(page, "presence-es")
        other.goto(f"{console_server.url}/#")  # Beto leaves the chat
        expect(page.locator("[data-presence]")).to_be_hidden(timeout=TIMEOUT)
    finally:
        other_context.close()


def test_chat_actions_alias_unread_close_reopen_restart_and_export(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
) -> None:
    errors = watch_errors(page)
    chat = _chat("Laura Martínez", "573001112233")
    Message.objects.create(conversation=chat, direction="in", kind="text", text="Hola", provider="meta")
    Role.objects.create(name="Cocinas", keyword="cocinas")
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator(".msg.in")).to_have_count(1, timeout=TIMEOUT)

    def menu(action: str) -> None:
        page.locator("[aria-haspopup=menu]").click()
        page.locator(f".menu [data-action={action}]").click()

    menu("alias")
    page.locator("dialog input[name=alias]").fill("Laura (cocina <b>)")
    page.locator("dialog button[type=submit]").click()
    expect(page.locator("[data-chat-name]")).to_contain_text("Laura (cocina <b>)", timeout=TIMEOUT)
    expect(page.locator(".chat .name")).to_have_text("Laura (cocina <b>)")

    menu("roles")
    page.locator("dialog label", has_text="Cocinas").locator("input").check()
    page.locator("dialog button[type=submit]").click()
    expect(page.locator(".chat-sub .role")).to_have_text(["Cocinas"], timeout=TIMEOUT)
    expect(page.locator(".chat .chips .role")).to_have_text(["Cocinas"])
    assert list(Conversation.objects.get(pk=chat.pk).roles.values_list("name", flat=True)) == ["Cocinas"]

    menu("unread")
    expect(page.locator(".chat .unread")).to_be_visible(timeout=TIMEOUT)
    wait_for(lambda: Conversation.objects.get(pk=chat.pk).unread_count > 0, message="not marked unread")

    menu("close")
    expect(page.locator(".chat-sub .status")).to_have_text("Cerrada", timeout=TIMEOUT)
    assert Conversation.objects.get(pk=chat.pk).status == "closed"
    page.locator("[data-action=reopen]").first.click()
    expect(page.locator(".chat-sub .status")).not_to_have_text("Cerrada", timeout=TIMEOUT)

    menu("restart")
    page.locator("dialog button[type=submit]").click()
    expect(page.locator(".toast", has_text="El flujo se reinició")).to_be_visible(timeout=TIMEOUT)

    page.locator("[aria-haspopup=menu]").click()
    with page.expect_download() as download_info:
        page.locator(".menu [data-action=export-csv]").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    assert "Hola" in Path(download.path()).read_text(encoding="utf-8-sig")
    assert errors == []


def test_older_history_loads_on_scroll_up(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
) -> None:
    chat = _chat("Laura Martínez", "573001112233")
    start = timezone.now() - timedelta(days=3)
    created = Message.objects.bulk_create(
        Message(
            conversation=chat,
            direction="in" if n % 2 else "out",
            kind="text",
            text=f"mensaje {n:03d}",
            provider="meta",
            status="received" if n % 2 else "read",
        )
        for n in range(130)
    )
    for n, message in enumerate(created):  # created_at is set on insert: spread them over three days
        Message.objects.filter(pk=message.pk).update(created_at=start + timedelta(minutes=n * 30))
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    messages = page.locator(".msg")
    expect(messages.last).to_have_text(re.compile("mensaje 129"), timeout=TIMEOUT)
    first_page = messages.count()
    assert first_page < 130  # one page first
    start_text = "Inicio de la conversación"
    for _ in range(5):  # each scroll to the top brings an older page
        if page.locator("[data-older]").inner_text() == start_text:
            break
        before = messages.count()
        page.locator("[data-scroller]").evaluate("s => s.scrollTo(0, 0)")
        page.wait_for_function(
            "([n, start]) => document.querySelectorAll('.msg').length > n"
            " || document.querySelector('[data-older]').textContent === start",
            arg=[before, start_text],
            timeout=TIMEOUT,
        )
    expect(page.locator("[data-older]")).to_have_text("Inicio de la conversación", timeout=TIMEOUT)
    expect(messages).to_have_count(130)
    expect(messages.first).to_contain_text("mensaje 000")
    assert page.locator(".day").count() >= 3  # a separator per day
    shot(page, "history-es")


def test_a_phone_sized_screen_shows_the_list_then_the_chat(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
) -> None:
    errors = watch_errors(page)
    chat = _chat("Laura Martínez", "573001112233")
    Message.objects.create(
        conversation=chat, direction="in", kind="text", text="Hola desde el celular", provider="meta"
    )
    page.set_viewport_size({"width": 390, "height": 780})
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    expect(page.locator(".chat .name")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("[data-placeholder]")).to_be_hidden()
    shot(page, "phone-list-es")
    page.locator(".chat button").click()
    expect(page.locator(".msg.in")).to_contain_text("Hola desde el celular", timeout=TIMEOUT)
    expect(page.locator(".sidebar")).to_be_hidden()
    page.locator("[data-compose]").fill("Un borrador")
    shot(page, "phone-chat-es")
    page.get_by_role("button", name="Volver a los chats").click()
    expect(page.locator(".sidebar")).to_be_visible()
    page.locator(".chat button").click()  # the unsent text waits in its chat
    expect(page.locator("[data-compose]")).to_have_value("Un borrador", timeout=TIMEOUT)
    page.get_by_role("button", name="Volver a los chats").click()
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + '.' + e.className)"
    )
    assert wide == []  # nothing sticks out sideways
    assert errors == []


def test_a_long_chat_list_loads_page_by_page_and_filters_on_the_server(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
) -> None:
    from conversations.models import Channel, Contact

    errors = watch_errors(page)
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="106540352242922")
    contacts = Contact.objects.bulk_create(
        Contact(provider="meta", external_id=f"57300{n:07d}", profile_name=f"Cliente {n:03d}") for n in range(260)
    )
    now = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(
            contact=contact,
            channel=channel,
            last_activity_at=now - timedelta(minutes=n),
            unread_count=1 if n % 50 == 0 else 0,
            status="human" if n % 20 == 0 else "bot",
        )
        for n, contact in enumerate(contacts)
    )
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    rows = page.locator(".chat")
    expect(rows.first.locator(".name")).to_have_text("Cliente 000", timeout=TIMEOUT)
    loaded = rows.count()
    assert loaded < 260  # a page at a time, not the whole list
    for _ in range(10):  # scrolling down loads the next pages
        if rows.count() == 260:
            break
        before = rows.count()
        page.locator(".list-scroll").evaluate("s => s.scrollTo(0, s.scrollHeight)")
        page.wait_for_function(f"() => document.querySelectorAll('.chat').length > {before}", timeout=TIMEOUT)
    expect(rows).to_have_count(260)
    expect(rows.last.locator(".name")).to_have_text("Cliente 259")

    page.get_by_role("button", name="No leídos").click()
    expect(rows).to_have_count(6, timeout=TIMEOUT)  # 0, 50, ..., 250
    page.select_option("[data-filter-status]", "human")
    expect(rows).to_have_count(3, timeout=TIMEOUT)  # unread and taken over: 0, 100, 200
    shot(page, "filters-es")
    page.get_by_role("button", name="No leídos").click()
    expect(rows).to_have_count(13, timeout=TIMEOUT)
    assert errors == []


def test_an_ended_session_sends_the_agent_to_log_in_again(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
) -> None:
    chat = _chat("Laura Martínez", "573001112233")
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(page.locator("[data-action=takeover]")).to_be_visible(timeout=TIMEOUT)
    page.wait_for_load_state("networkidle")  # opening the chat has marked it read
    page.context.clear_cookies()  # logged out elsewhere, or the session expired
    page.locator("[data-action=takeover]").click(no_wait_after=True)
    page.wait_for_url("**/accounts/login/?next=*", timeout=TIMEOUT)
    expect(page.locator("#id_username")).to_be_visible()
    assert Conversation.objects.get(pk=chat.pk).status == "bot"


def test_the_console_works_from_the_keyboard(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,  # noqa: F811
) -> None:
    for name, wa_id in (("Ana", "573001"), ("Bruno", "573002"), ("Carla", "573003")):
        Message.objects.create(conversation=_chat(name, wa_id), direction="in", kind="text", text=f"Soy {name}")
    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    expect(page.locator(".chat")).to_have_count(3, timeout=TIMEOUT)

    page.locator("body").press("/")  # "/" outside a text field goes to the search
    expect(page.locator("[data-search]")).to_be_focused()
    page.keyboard.type("bru")
    expect(page.locator(".chat")).to_have_count(1, timeout=TIMEOUT)
    page.keyboard.press("Escape")  # clears the search
    expect(page.locator(".chat")).to_have_count(3, timeout=TIMEOUT)

    page.locator(".chat-button").first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("[data-chat-name]")).to_have_text(page.locator(".chat .name").nth(2).inner_text())
    expect(page.locator("[data-compose]")).to_be_focused(timeout=TIMEOUT)  # ready to type
