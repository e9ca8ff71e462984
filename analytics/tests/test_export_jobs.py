"""The analysts' date-range export: business days, channel, progress, a private file for staff, failures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from analytics.models import MessageExport
from analytics.services.export_jobs import message_export_run, message_export_start
from conversations.models import Channel, Contact, Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def business_days(settings: Any) -> dict[str, Channel]:
    """Messages around 1-2 March 2026 in Mexico City (UTC-6) on two channels."""
    settings.TIME_ZONE = "America/Mexico_City"
    ventas = Channel.objects.create(name="Ventas", provider="meta", external_id="106540352242922")
    tienda = Channel.objects.create(name="Tienda", provider="ycloud", external_id="+576015550100")
    contact = Contact.objects.create(provider="meta", external_id="573001112233", profile_name="Laura")
    chats = {
        channel.name: Conversation.objects.create(contact=contact, channel=channel, step="inicio")
        for channel in (ventas, tienda)
    }
    at = {
        "before": datetime(2026, 3, 1, 5, 59, tzinfo=UTC),  # 28 Feb 23:59 there
        "first": datetime(2026, 3, 1, 6, 0, tzinfo=UTC),  # 1 March 00:00 there
        "late": datetime(2026, 3, 3, 5, 30, tzinfo=UTC),  # 2 March 23:30 there
        "after": datetime(2026, 3, 3, 6, 0, tzinfo=UTC),  # 3 March 00:00 there
    }
    for name, when in at.items():
        for chat_name, chat in chats.items():
            message = Message.objects.create(
                conversation=chat, direction="in", text=f"{name} {chat_name}", provider="x"
            )
            Message.objects.filter(pk=message.pk).update(created_at=when)
    Message.objects.create(conversation=chats["Ventas"], direction="in", text="=1+1 ñandú", provider="x")
    Message.objects.filter(text="=1+1 ñandú").update(created_at=datetime(2026, 3, 2, 12, tzinfo=UTC))
    return {"Ventas": ventas, "Tienda": tienda}


def _rows(path: Path) -> list[dict[str, str]]:
    body = path.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_the_days_are_the_business_days_and_the_file_is_private(business_days: dict[str, Channel]) -> None:
    export = message_export_start(date_from=date(2026, 3, 1), date_to=date(2026, 3, 2))

    done = message_export_run(export_id=export.pk)

    assert done.status == "done" and done.error == ""
    assert (done.rows_done, done.rows_total) == (5, 5)
    path = Path(django_settings.MEDIA_ROOT) / done.file_path
    assert done.file_path.startswith("exports/") and "public" not in done.file_path
    assert done.file_size == path.stat().st_size
    rows = _rows(path)
    assert [r["text"] for r in rows] == ["first Ventas", "first Tienda", "'=1+1 ñandú", "late Ventas", "late Tienda"]
    assert rows[0]["created_at"] == "2026-03-01T00:00:00-06:00"
    assert not list(path.parent.glob("*.part"))
    assert message_export_run(export_id=export.pk).status == "done"  # a second delivery of the task does nothing


def test_one_channel(business_days: dict[str, Channel]) -> None:
    export = message_export_start(
        date_from=date(2026, 2, 28), date_to=date(2026, 3, 3), channel=business_days["Tienda"]
    )

    done = message_export_run(export_id=export.pk)

    assert [r["text"] for r in _rows(Path(django_settings.MEDIA_ROOT) / done.file_path)] == [
        "before Tienda",
        "first Tienda",
        "late Tienda",
        "after Tienda",
    ]


def test_progress_is_saved_after_every_chunk(business_days: dict[str, Channel], settings: Any) -> None:
    settings.EXPORT_CHUNK_ROWS = 2
    export = message_export_start(date_from=date(2026, 3, 1), date_to=date(2026, 3, 2))
    with CaptureQueriesContext(connection) as queries:
        message_export_run(export_id=export.pk)

    quote = connection.ops.quote_name
    table, rows_done = quote(MessageExport._meta.db_table), quote("rows_done")
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f"UPDATE {table}")]
    progress = [sql for sql in updates if f"{rows_done} = " in sql and quote("status") not in sql]
    seen = [int(sql.split(f"{rows_done} = ")[1].split(",")[0]) for sql in progress]
    assert seen == [2, 4, 5]


def test_a_failure_is_kept_with_its_reason(business_days: dict[str, Channel], settings: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocker
    export = message_export_start(date_from=date(2026, 3, 1), date_to=date(2026, 3, 2))

    failed = message_export_run(export_id=export.pk)

    assert failed.status == "failed"
    assert "Error" in failed.error and "not-a-folder" in failed.error
    assert failed.finished_at is not None


# --------------------------------------------------------------------------- admin


def _staff(**extra: Any) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x", **extra))
    return client


def test_staff_ask_in_the_admin_see_progress_and_download(business_days: dict[str, Channel]) -> None:
    client = _staff()

    form = client.get("/admin/analytics/messageexport/add/")
    created = client.post(
        "/admin/analytics/messageexport/add/",
        {"date_from": "2026-03-01", "date_to": "2026-03-02", "channel": business_days["Ventas"].pk},
    )
    export = MessageExport.objects.get()
    page_queued = client.get(f"/admin/analytics/messageexport/{export.pk}/change/")
    queued = client.get(f"/admin/analytics/messageexport/{export.pk}/progress/").json()
    message_export_run(export_id=export.pk)  # what the worker does (the live worker: test_export_worker.py)
    page_done = client.get(f"/admin/analytics/messageexport/{export.pk}/change/")
    done = client.get(f"/admin/analytics/messageexport/{export.pk}/progress/").json()
    download = client.get(done["download_url"])

    assert form.status_code == 200
    assert created.status_code == 302 and created["Location"].endswith(f"/{export.pk}/change/")
    assert export.created_by.username == "root" and export.status == "queued"
    assert page_queued.status_code == 200 and b"export-progress" in page_queued.content
    assert (queued["status"], queued["finished"], queued["download_url"]) == ("queued", False, None)
    assert (done["status"], done["rows_done"], done["rows_total"]) == ("done", 3, 3)
    assert b"export-download" in page_done.content
    assert download.status_code == 200 and download.streaming
    assert download["Content-Disposition"] == 'attachment; filename="messages-20260301-20260302.csv"'
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    assert [r["text"] for r in csv.DictReader(io.StringIO(body))] == ["first Ventas", "'=1+1 ñandú", "late Ventas"]


def test_the_range_must_be_in_order(business_days: dict[str, Channel]) -> None:
    response = _staff().post(
        "/admin/analytics/messageexport/add/", {"date_from": "2026-03-02", "date_to": "2026-03-01"}
    )

    assert response.status_code == 200 and not MessageExport.objects.exists()
    assert "errornote" in response.content.decode()


def test_only_staff_who_may_view_exports_get_the_file(business_days: dict[str, Channel]) -> None:
    export = message_export_run(export_id=message_export_start(date_from=date(2026, 3, 1), date_to=date(2026, 3, 2)).pk)
    url = f"/admin/analytics/messageexport/{export.pk}/download/"
    agent = Client()
    agent.force_login(User.objects.create_user("agente", password="x"))
    staff_without_permission = Client()
    staff_without_permission.force_login(User.objects.create_user("staff", password="x", is_staff=True))

    assert Client().get(url).status_code == 302  # to the admin's login
    assert agent.get(url).status_code == 302  # not staff: the admin's login too
    assert staff_without_permission.get(url).status_code == 404
    assert _staff().get(url).status_code == 200
    assert not (Path(django_settings.MEDIA_ROOT) / "public").exists() or not any(
        (Path(django_settings.MEDIA_ROOT) / "public").rglob("*.csv")
    )


def test_a_failed_export_shows_why_and_runs_again(
    business_days: dict[str, Channel], settings: Any, tmp_path: Path
) -> None:
    media = settings.MEDIA_ROOT
    blocker = tmp_path / "blocked"
    blocker.write_text("x")
    settings.MEDIA_ROOT = blocker
    export = message_export_run(export_id=message_export_start(date_from=date(2026, 3, 1), date_to=date(2026, 3, 2)).pk)
    client = _staff()

    page = client.get(f"/admin/analytics/messageexport/{export.pk}/change/").content.decode()
    settings.MEDIA_ROOT = media
    again = client.post(f"/admin/analytics/messageexport/{export.pk}/change/")
    export.refresh_from_db()

    assert "export-error" in page and "blocked" in page
    assert again.status_code == 302 and export.status == "queued" and export.error == ""
    assert message_export_run(export_id=export.pk).status == "done"
