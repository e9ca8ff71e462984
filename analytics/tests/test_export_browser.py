"""The date-range export in the admin, in real Chromium: ask for it, watch the progress update, download."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from analytics.models import MessageExport
from analytics.services.export_jobs import message_export_run
from conversations.models import Channel, Contact, Conversation, Message
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "clave-segura-123"
TIMEOUT = 10_000


def test_staff_ask_for_an_export_see_it_progress_and_download_it(live_server: Any, page: Any) -> None:  # noqa: F811
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="106540352242922")
    contact = Contact.objects.create(provider="meta", external_id="573001112233", profile_name="Laura")
    chat = Conversation.objects.create(contact=contact, channel=channel, step="inicio")
    for text in ("Hola, ¿tienen cuarzo?", "=1+1", "Gracias, ñandú"):
        Message.objects.create(conversation=chat, direction="in", text=text, provider="meta")
    User.objects.create_superuser(username="jefe", password=PASSWORD, email="jefe@example.com")
    today = timezone.localdate().isoformat()
    SHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "jefe")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    page.goto(live_server.url + "/admin/analytics/messageexport/add/")
    page.fill("#id_date_from", today)
    page.fill("#id_date_to", today)
    page.select_option("#id_channel", value=str(channel.pk))
    page.locator("input[name=_save]").click()
    page.wait_for_url("**/change/")
    expect(page.locator(".export-count")).to_have_text("Esperando un proceso de trabajo…")

    export = MessageExport.objects.get()
    # A worker has written 4 of 10 rows: the page's poll shows it without a reload.
    MessageExport.objects.filter(pk=export.pk).update(status="running", rows_total=10, rows_done=4)
    expect(page.locator(".export-count")).to_have_text("4 de 10 mensajes", timeout=TIMEOUT)
    expect(page.locator(".export-status")).to_have_text("En curso")
    page.screenshot(path=str(SHOTS / "admin-message-export-running.png"), full_page=True)

    MessageExport.objects.filter(pk=export.pk).update(status="queued", rows_total=0, rows_done=0)
    assert message_export_run(export_id=export.pk).status == "done"
    expect(page.locator("a.export-download")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".message-export")).to_contain_text("3 mensajes exportados.")
    page.screenshot(path=str(SHOTS / "admin-message-export-done.png"), full_page=True)
    with page.expect_download() as download_info:
        page.locator("a.export-download").click()
    download = download_info.value

    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert [r["text"] for r in rows] == ["Hola, ¿tienen cuarzo?", "'=1+1", "Gracias, ñandú"]
