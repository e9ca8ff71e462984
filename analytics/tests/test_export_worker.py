"""The date-range export through a real Celery worker (queued after the commit, run by the task)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from analytics.models import MessageExport
from analytics.services.export_jobs import message_export_start
from conftest import wait_for
from conversations.models import Channel, Contact, Conversation, Message


def _chat() -> Conversation:
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="106540352242922")
    contact = Contact.objects.create(provider="meta", external_id="573001112233", profile_name="Laura")
    return Conversation.objects.create(contact=contact, channel=channel, step="inicio")


@pytest.mark.django_db(transaction=True)
def test_the_worker_writes_the_file_and_the_job_says_so(celery_live_worker: Any) -> None:
    chat = _chat()
    channel = chat.channel
    Message.objects.bulk_create(
        Message(conversation=chat, direction="in", text=f"mensaje {n} ¿café?", provider="meta") for n in range(250)
    )
    today = timezone.localdate()

    export = message_export_start(date_from=today - timedelta(days=1), date_to=today, channel=channel)

    wait_for(lambda: MessageExport.objects.get(pk=export.pk).status in ("done", "failed"), timeout=30)
    export.refresh_from_db()
    assert (export.status, export.error, export.rows_done, export.rows_total) == ("done", "", 250, 250)
    body = (Path(settings.MEDIA_ROOT) / export.file_path).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 250 and rows[0]["text"] == "mensaje 0 ¿café?"
    assert export.date_from == today - timedelta(days=1) and isinstance(export.date_to, date)


@pytest.mark.django_db(transaction=True)
def test_the_worker_counts_new_messages_into_the_dashboard_summaries(celery_live_worker: Any) -> None:
    """The periodic task, sent as beat sends it, through a real worker; skipped while another pass holds the lock."""
    from analytics.models import ChatHour
    from analytics.services.rollup import rollup_high_id
    from analytics.tasks import dashboard_rollup_task
    from whatsapp_ia.locks import conversation_lock

    chat = _chat()
    Message.objects.bulk_create(
        Message(conversation=chat, direction=direction, text="hola", provider="meta")
        for direction in ("in", "out", "in")
    )
    newest = Message.objects.order_by("-pk").values_list("pk", flat=True).first()

    with conversation_lock("analytics-rollup", 0) as held:  # a pass still running
        assert held
        assert dashboard_rollup_task() == {"skipped": 1}
    assert rollup_high_id() == 0

    dashboard_rollup_task.delay()
    wait_for(lambda: rollup_high_id() == newest, timeout=30)
    row = ChatHour.objects.get(conversation=chat)
    assert (row.inbound, row.outbound, row.replies_bot, row.channel_id) == (2, 1, 1, chat.channel_id)
