"""One conversation as a file: JSON (the console's shapes) or CSV that Excel opens (UTF-8 with BOM).

CSV cells are safe against formula injection: a customer's text that starts like a formula
(=, +, -, @, tab, carriage return) is prefixed with an apostrophe, so a spreadsheet shows it
as text instead of running it (OWASP's advice for CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services.serialize import conversation_data, messages_data

__all__ = ["CSV_COLUMNS", "conversation_export_csv", "conversation_export_json", "csv_cell", "export_filename"]

CSV_COLUMNS = (
    "id",
    "created_at",
    "direction",
    "origin",
    "sent_by",
    "kind",
    "text",
    "caption",
    "transcription",
    "media_name",
    "media_mime",
    "status",
    "error",
    "sent_at",
    "delivered_at",
    "read_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BATCH = 2000


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as the text it is (never a formula)."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


_TIME_FIELDS = (
    "created_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "last_message_at",
    "last_activity_at",
    "window_closes_at",
)


def _business_times(item: dict[str, Any]) -> dict[str, Any]:
    """The item with its times in the business's time zone (ISO 8601 with that offset): what the
    owner reading the file in a spreadsheet expects, still unambiguous for a program."""
    out = dict(item)
    for name in _TIME_FIELDS:
        value = out.get(name)
        if isinstance(value, str) and value:
            out[name] = timezone.localtime(datetime.fromisoformat(value)).isoformat()
    return out


def _messages(conversation: Conversation) -> Iterator[list[dict[str, Any]]]:
    """Every message of the chat, oldest first, in batches (each batch two lookups)."""
    queryset = Message.objects.filter(conversation=conversation).select_related("rule", "sent_by")
    last: tuple[Any, int] | None = None
    while True:
        page = queryset.order_by("created_at", "id")
        if last is not None:
            page = page.filter(created_at__gte=last[0]).exclude(created_at=last[0], id__lte=last[1])
        batch = list(page[:_BATCH])
        if not batch:
            return
        yield [_business_times(item) for item in messages_data(batch)]
        last = (batch[-1].created_at, batch[-1].pk)


def export_filename(conversation: Conversation, extension: str) -> str:
    return f"conversation-{conversation.pk}-{timezone.localtime():%Y%m%d-%H%M}.{extension}"


def conversation_export_json(conversation: Conversation) -> str:
    roles = list(conversation.roles.all())
    data = {
        "conversation": _business_times(conversation_data(conversation, roles=roles)),
        "messages": [item for batch in _messages(conversation) for item in batch],
        "exported_at": timezone.localtime().isoformat(),
    }
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1)


def conversation_export_csv(conversation: Conversation) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads UTF-8 only with the BOM
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for batch in _messages(conversation):
        for item in batch:
            row = dict(item)
            row["sent_by"] = (item.get("sent_by") or {}).get("name", "")
            writer.writerow([csv_cell(row.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()
