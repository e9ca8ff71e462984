"""Transcriptions and image descriptions in the live console, in real Chromium against the whole app
(Daphne: HTTP + websocket): "Transcribing…" while the pipeline works, the text as soon as it is stored
and broadcast (no reload, the agent's place in the history kept), why there is none when it failed,
what OCR read titled as such, long descriptions clamped, hostile text shown as text.

The messages are stored directly and their updates broadcast the way the pipeline does
(``message.updated`` with ``message_event_data``). Screenshots: var/screenshots/console/."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from conversations import events
from conversations.models import Channel, Contact, Conversation, Message
from conversations.services.serialize import message_event_data
from conversations.tests import conftest as conversations_fixtures
from conversations.tests.conftest import PHONE_NUMBER_ID
from conversations.tests.console_browser import (
    console_server,  # noqa: F401  (fixture)
    log_in,
    shot,
    voice_note_ogg,
    watch_errors,
)
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

fake_graph = conversations_fixtures.fake_graph
meta_settings = conversations_fixtures.meta_settings
TIMEOUT = 15_000  # ms: how long the page may take to show what the server broadcast

HOSTILE = '<img src=x onerror="document.title=\'PWNED\'"><script>document.title="PWNED"</script>'
OCR_TEXT = (
    "FACTURA DE VENTA No. 10432\nCerámicas del Valle S.A.S. - NIT 900.123.456-7\n"
    "Porcelanato gris mate 60x60  12 m2  $ 54.900/m2\nGranito negro San Gabriel  3 ml  $ 320.000/ml\n"
    "Subtotal $ 1.618.800  IVA 19% $ 307.572\nTOTAL A PAGAR $ 1.926.372"
)


@pytest.fixture
def boss() -> User:
    return User.objects.create_superuser(username="jefe", password="clave-jefe-123", first_name="Ana")


@pytest.fixture
def chat() -> Conversation:
    channel = Channel.objects.create(provider="meta", external_id=PHONE_NUMBER_ID, name="Ventas")
    contact = Contact.objects.create(provider="meta", external_id="573001112233", profile_name="Laura Martínez")
    now = timezone.now()
    return Conversation.objects.create(
        contact=contact, channel=channel, step="inicio", last_activity_at=now, last_inbound_at=now
    )


def _media_message(chat: Conversation, kind: str, content: bytes, mime: str, **fields: Any) -> Message:
    message = Message.objects.create(
        conversation=chat, direction="in", kind=kind, provider="meta", media_mime=mime, media_state="stored", **fields
    )
    extension = {"audio": "ogg", "image": "jpg"}[kind]
    message.media_file.name = default_storage.save(f"{chat.channel_id}/m{message.pk}.{extension}", ContentFile(content))
    message.save(update_fields=["media_file"])
    return message


def _text(chat: Conversation, text: str, direction: str = "in") -> Message:
    return Message.objects.create(conversation=chat, direction=direction, kind="text", provider="meta", text=text)


def _photo() -> bytes:
    """A small product photo (Pillow: a granite-like tile with a label)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (360, 240), (58, 60, 66))
    draw = ImageDraw.Draw(image)
    for n in range(0, 360, 7):  # speckles
        draw.point([(n, (n * 37) % 240), ((n * 13) % 360, (n * 5) % 240)], fill=(200, 200, 205))
    draw.rectangle((20, 180, 220, 220), fill=(245, 245, 245))
    draw.text((30, 192), "GRANITO NEGRO  REF 1043", fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _enrichment(source: str, backend: str, **extra: Any) -> dict[str, Any]:
    return {"enrichment": {"source": source, "backend": backend, "detail": "", **extra}}


def _broadcast_update(message: Message, **fields: Any) -> None:
    """Store the pipeline's result and tell the consoles, as the pipeline does."""
    for name, value in fields.items():
        setattr(message, name, value)
    message.save(update_fields=[*fields, "updated_at"])
    events.broadcast_on_commit(
        groups=events.groups_for(message.conversation), name=events.MESSAGE_UPDATED, data=message_event_data(message)
    )


def _bubble(page: Any, message: Message) -> Any:  # noqa: F811
    return page.locator(f"#m-{message.pk}")


def test_a_voice_note_shows_transcribing_then_its_transcription_live_and_why_when_there_is_none(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,
    chat: Conversation,
    tmp_path: Path,
) -> None:
    errors = watch_errors(page)
    audio = voice_note_ogg(tmp_path)
    no_model = _media_message(
        chat, "audio", audio, "audio/ogg", enrichment_state="unavailable", enrichment_reason="no_model",
        data=_enrichment("transcription", "vosk"),
    )  # fmt: skip
    too_long = _media_message(
        chat, "audio", audio, "audio/ogg", enrichment_state="skipped", enrichment_reason="too_long",
        data=_enrichment("transcription", "openai"),
    )  # fmt: skip
    queued = _media_message(
        chat, "audio", audio, "audio/ogg", enrichment_state="queued", data=_enrichment("transcription", "vosk")
    )
    _text(chat, "¿Me ayudan con eso?")

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    pending = _bubble(page, queued).locator(".enrichment-queued")
    expect(pending).to_have_text("Transcribiendo…", timeout=TIMEOUT)
    expect(pending.locator(".spinner .icon")).to_be_visible()
    # no text: why, so the agent knows to listen (in the agent's language, by the reason's code)
    expect(_bubble(page, no_model).locator(".enrichment-unavailable")).to_have_text(
        "transcripción no disponible: no hay modelo"
    )
    expect(_bubble(page, too_long).locator(".enrichment-skipped")).to_have_text("demasiado largo para transcribir")
    expect(_bubble(page, no_model).locator("audio")).to_be_visible()  # still playable
    shot(page, "enrichment-audio-pending-es")

    # the pipeline stores the transcription and broadcasts it: shown without a reload
    _broadcast_update(
        queued,
        transcription="Hola, quiero saber el precio del metro de porcelanato gris y si hacen envíos a Palmira.",
        enrichment_state="done",
    )
    transcription = _bubble(page, queued).locator(".transcription")
    expect(transcription).to_contain_text("Transcripción", timeout=TIMEOUT)
    expect(transcription.locator(".enrichment-text")).to_have_text(
        "Hola, quiero saber el precio del metro de porcelanato gris y si hacen envíos a Palmira."
    )
    expect(transcription.locator(".enrichment-text")).to_have_attribute("dir", "auto")
    expect(_bubble(page, queued).locator(".enrichment-queued")).to_have_count(0)
    shot(page, "enrichment-audio-es")
    assert errors == []


def test_a_live_transcription_above_the_view_keeps_the_agents_place(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,
    chat: Conversation,
    tmp_path: Path,
) -> None:
    """The agent reads further down while an earlier voice note gets its (tall) transcription."""
    errors = watch_errors(page)
    queued = _media_message(
        chat, "audio", voice_note_ogg(tmp_path), "audio/ogg", enrichment_state="queued",
        data=_enrichment("transcription", "vosk"),
    )  # fmt: skip
    later = [_text(chat, f"Mensaje {n}: ¿tienen disponibilidad para esta semana?") for n in range(40)]

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")
    expect(_bubble(page, later[-1])).to_be_visible(timeout=TIMEOUT)
    # the agent scrolls up until the voice note is just above the view, reading the messages after it
    reading = _bubble(page, later[5])
    page.evaluate(
        """(note) => {
            const scroller = document.querySelector("[data-scroller]");
            const box = document.getElementById(note).getBoundingClientRect();
            scroller.scrollTop += box.bottom - scroller.getBoundingClientRect().top + 4;
        }""",
        f"m-{queued.pk}",
    )
    view_top = page.locator("[data-scroller]").bounding_box()["y"]
    note = _bubble(page, queued).bounding_box()
    assert note["y"] + note["height"] < view_top  # out of view, above
    before = reading.bounding_box()["y"]
    assert before > view_top  # in view

    _broadcast_update(queued, transcription="Buenas tardes.\n" * 6, enrichment_state="done")
    expect(_bubble(page, queued).locator(".transcription")).to_be_attached(timeout=TIMEOUT)
    assert abs(reading.bounding_box()["y"] - before) <= 1  # what the agent reads did not jump
    assert errors == []


def test_image_descriptions_ocr_text_clamped_live_and_hostile_text_stays_text(
    console_server: Any,  # noqa: F811
    page: Any,  # noqa: F811
    boss: User,
    chat: Conversation,
) -> None:
    errors = watch_errors(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    photo = _photo()
    ocr = _media_message(
        chat, "image", photo, "image/jpeg", image_description=OCR_TEXT, enrichment_state="done",
        data=_enrichment("ocr", "tesseract", elapsed_ms=840),
    )  # fmt: skip
    failed = _media_message(
        chat, "image", photo, "image/jpeg", enrichment_state="failed", enrichment_reason="no_text",
        data=_enrichment("ocr", "tesseract"),
    )  # fmt: skip
    hostile = _media_message(
        chat, "image", photo, "image/jpeg", image_description=HOSTILE, enrichment_state="done",
        data=_enrichment("vision", "openai-vision"),
    )  # fmt: skip
    queued = _media_message(
        chat, "image", photo, "image/jpeg", caption="¿Lo tienen en gris?", enrichment_state="queued",
        data=_enrichment("vision", "openai-vision"),
    )  # fmt: skip

    log_in(page, console_server.url, "jefe", "clave-jefe-123")
    page.goto(f"{console_server.url}/#chat-{chat.pk}")

    # what OCR read, under its own title, clamped to three lines with "more"
    block = _bubble(page, ocr).locator(".description")
    expect(block.locator(".label")).to_have_text("Texto leído en la imagen", timeout=TIMEOUT)
    text = block.locator(".enrichment-text")
    expect(text).to_have_text(OCR_TEXT)  # all of it is there, only clamped
    expect(text).to_have_class("enrichment-text clamped")
    clamped_height = text.bounding_box()["height"]
    more = block.locator(".more")
    expect(more).to_have_text("más")
    expect(_bubble(page, failed).locator("img")).to_have_js_property("complete", True)
    _bubble(page, failed).scroll_into_view_if_needed()  # the OCR text (clamped) and the failure below it
    shot(page, "enrichment-image-ocr-es")
    more.click()
    expect(text).to_have_class("enrichment-text")
    expect(more).to_have_text("menos")
    assert text.bounding_box()["height"] > clamped_height * 1.5

    # no text found: said, muted
    expect(_bubble(page, failed).locator(".enrichment-failed")).to_have_text("no se encontró texto en la imagen")

    # hostile text from the customer's image: shown as text, nothing runs, no element made of it
    hostile_text = _bubble(page, hostile).locator(".description .enrichment-text")
    expect(hostile_text).to_have_text(HOSTILE)
    expect(_bubble(page, hostile).locator(".description .label")).to_have_text("Descripción de la imagen")
    assert hostile_text.locator("img, script").count() == 0
    assert page.locator("img[src=x]").count() == 0

    # the description being made, then arriving live
    expect(_bubble(page, queued).locator(".enrichment-queued")).to_have_text("Describiendo…")
    _bubble(page, queued).scroll_into_view_if_needed()
    shot(page, "enrichment-image-pending-es")
    _broadcast_update(
        queued,
        image_description="Baldosa de porcelanato gris claro con vetas blancas, acabado mate, sobre un piso de madera.",
        enrichment_state="done",
    )
    description = _bubble(page, queued).locator(".description")
    expect(description.locator(".enrichment-text")).to_have_text(
        "Baldosa de porcelanato gris claro con vetas blancas, acabado mate, sobre un piso de madera.",
        timeout=TIMEOUT,
    )
    expect(description.locator(".more")).to_be_hidden()  # short: nothing to expand
    expect(_bubble(page, queued).locator(".caption")).to_have_text("¿Lo tienen en gris?")
    # the OCR text the agent opened stays open (the update redrew another message only)
    expect(text).to_have_class("enrichment-text")
    _bubble(page, queued).scroll_into_view_if_needed()
    shot(page, "enrichment-image-es")
    assert page.title() != "PWNED"
    assert dialogs == []
    assert errors == []
