"""The analysts' export: every message of a date range (optionally one channel) as a CSV file, by a Celery task.

One code path whatever the size: ``message_export_start`` records the job and queues
``analytics.tasks.message_export_task`` after the commit; ``message_export_run`` (the task's body,
called directly by tests and the benchmark) claims the job, counts the rows expected, writes the
rows chunk by chunk (conversations.services.export: keyset pagination, flat memory) into a
temporary file beside the final one, saves the progress after each chunk, and renames the file
into place when it is complete. A failure is kept on the job with its reason and the partial file
removed. Files live under ``MEDIA_ROOT/exports/`` (never served publicly: the admin sends them
to staff).

Days are the business's (settings.TIME_ZONE): "from 1 March to 2 March" is 1 March 00:00 to
3 March 00:00 there, whatever the server's or the database's zone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from analytics.models import MessageExport, MessageExportStatus
from conversations.models import Channel, Message
from conversations.services.export import csv_chunks, message_batches

logger = logging.getLogger(__name__)

EXPORT_DIR = "exports"
# A running export saves its progress after every chunk; one silent for this long lost its worker.
STALL_SECONDS = 600

__all__ = [
    "EXPORT_DIR",
    "message_export_can_retry",
    "message_export_delete",
    "message_export_file",
    "message_export_messages",
    "message_export_queue",
    "message_export_range",
    "message_export_retry",
    "message_export_run",
    "message_export_stalled",
    "message_export_start",
]


def message_export_range(*, date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[start, end) of the days ``date_from`` to ``date_to`` (both included) in the business's time zone."""
    zone = timezone.get_default_timezone()
    start = datetime.combine(date_from, time.min, tzinfo=zone)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def message_export_messages(*, export: MessageExport) -> QuerySet[Message]:
    start, end = message_export_range(date_from=export.date_from, date_to=export.date_to)
    messages = Message.objects.filter(created_at__gte=start, created_at__lt=end)
    if export.channel_id is not None:
        messages = messages.filter(conversation__channel_id=export.channel_id)
    return messages


def message_export_queue(*, export: MessageExport) -> MessageExport:
    """Save a new export (the admin's form fills it) and queue its task once the transaction commits."""
    from analytics.tasks import message_export_task

    export.status = MessageExportStatus.QUEUED
    export.save()
    export_id = export.pk
    transaction.on_commit(lambda: message_export_task.delay(export_id), robust=True)
    return export


def message_export_start(
    *, user: Any = None, date_from: date, date_to: date, channel: Channel | None = None
) -> MessageExport:
    """Record an export of every message from ``date_from`` to ``date_to`` (included) and queue it."""
    if date_to < date_from:
        raise ValueError("date_to is before date_from")
    export = MessageExport(
        date_from=date_from, date_to=date_to, channel=channel, created_by=user if getattr(user, "pk", None) else None
    )
    return message_export_queue(export=export)


def _root() -> Path:
    return Path(settings.MEDIA_ROOT)


def message_export_file(*, export: MessageExport) -> Path | None:
    """The finished file of a done export, if it is still there (and really under MEDIA_ROOT/exports/)."""
    if export.status != MessageExportStatus.DONE or not export.file_path:
        return None
    folder = (_root() / EXPORT_DIR).resolve()
    path = (_root() / export.file_path).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    return path


def _file_name(export: MessageExport) -> str:
    now = timezone.localtime(timezone=timezone.get_default_timezone())
    channel = f"-channel{export.channel_id}" if export.channel_id else ""
    # A random part: the name is never guessable, even by someone who could list the folder's neighbours.
    return (
        f"{EXPORT_DIR}/{now:%Y}/{now:%m}/messages-{export.date_from:%Y%m%d}-{export.date_to:%Y%m%d}{channel}"
        f"-{export.pk}-{secrets.token_hex(6)}.csv"
    )


def _progress(export_id: int, batches: Iterator[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    """The batches, saving how many rows are done after each (one UPDATE per chunk)."""
    done = 0
    for batch in batches:
        yield batch
        done += len(batch)
        MessageExport.objects.filter(pk=export_id).update(rows_done=done, updated_at=timezone.now())


def message_export_run(*, export_id: int) -> MessageExport | None:
    """Write one queued export's file; its state, progress and result (or reason) are saved on the row.

    Runs once: the job is claimed by one conditional UPDATE, so a task delivered twice writes one file.
    None when there is no such export; the row unchanged when it was not queued.
    """
    claimed = MessageExport.objects.filter(pk=export_id, status=MessageExportStatus.QUEUED).update(
        status=MessageExportStatus.RUNNING, started_at=timezone.now(), rows_done=0, error="", updated_at=timezone.now()
    )
    export = MessageExport.objects.filter(pk=export_id).first()
    if export is None or not claimed:
        return export
    relative = _file_name(export)
    final = _root() / relative
    partial = final.with_name(final.name + ".part")
    try:
        messages = message_export_messages(export=export)
        export.rows_total = messages.count()
        MessageExport.objects.filter(pk=export_id).update(rows_total=export.rows_total)
        final.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as out:
            for chunk in csv_chunks(_progress(export_id, message_batches(messages))):
                out.write(chunk)
        os.replace(partial, final)
    except Exception as exc:  # kept on the job, for the staff who asked for it
        logger.exception("Message export %s failed", export_id)
        with contextlib.suppress(OSError):  # the reason is the first error, not this one
            partial.unlink(missing_ok=True)
        export.refresh_from_db()
        export.status = MessageExportStatus.FAILED
        export.error = f"{type(exc).__name__}: {exc}"[:2000]
        export.finished_at = timezone.now()
        export.save(update_fields=["status", "error", "finished_at", "updated_at"])
        return export
    export.refresh_from_db()
    export.status = MessageExportStatus.DONE
    export.file_path = relative
    export.file_size = final.stat().st_size
    export.finished_at = timezone.now()
    export.save(update_fields=["status", "file_path", "file_size", "finished_at", "updated_at"])
    return export


def message_export_stalled(*, export: MessageExport) -> bool:
    """Queued or running with nothing saved for STALL_SECONDS: its task was lost or its worker died."""
    if export.status not in (MessageExportStatus.QUEUED, MessageExportStatus.RUNNING):
        return False
    return export.updated_at < timezone.now() - timedelta(seconds=STALL_SECONDS)


def message_export_can_retry(*, export: MessageExport) -> bool:
    return export.status == MessageExportStatus.FAILED or message_export_stalled(export=export)


def message_export_retry(*, export: MessageExport) -> bool:
    """Queue a failed or stalled export again (a new file); False for one done or still under way."""
    if not message_export_can_retry(export=export):
        return False
    _remove_file(export)
    export.file_path, export.file_size, export.error, export.rows_done = "", None, "", 0
    export.started_at = export.finished_at = None
    message_export_queue(export=export)
    return True


def _remove_file(export: MessageExport) -> None:
    if export.file_path:
        folder = (_root() / EXPORT_DIR).resolve()
        path = (_root() / export.file_path).resolve()
        if path.is_relative_to(folder):
            path.unlink(missing_ok=True)


def message_export_delete(*, export: MessageExport) -> None:
    """Delete the job and its file."""
    _remove_file(export)
    export.delete()
