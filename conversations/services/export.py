"""Messages as files, streamed: CSV that Excel opens (UTF-8 with BOM), JSON, XLSX.

Every export goes through :func:`message_batches`: the rows of a message queryset, oldest first,
read by keyset pagination on ``(created_at, id)`` in chunks of ``EXPORT_CHUNK_ROWS`` (2,000) rows,
each chunk three statements (its messages with their rule and sender, and, for the chats it meets
first, those chats and their roles). Nothing holds more than one chunk, so a chat of 100,000
messages or a year of a business's messages exports in flat memory, on SQLite and MySQL alike
(``QuerySet.iterator()`` would buffer the whole result in MySQL's client). The writers turn chunks
into bytes as they come: the console's "export this conversation", ``/export/conversation/<number>``,
the admin's actions and the analysts' date-range export all write the same rows and columns.

One row per message: what it says (text, caption, transcription, image description, file), who
wrote it (customer, agent, rule, AI, ...) and, for a bot's message, the rule (its step and key) or
the AI answer (its log id and backend) behind it; its status ticks; and its chat's columns (channel,
customer number, name, alias, roles, current step). Times are in the business's time zone (ISO
8601 with that offset): what an owner reading a spreadsheet expects, still unambiguous to a program.

CSV and XLSX cells are safe against formula injection: in CSV a text that starts like a formula
(=, +, -, @, tab, carriage return) is prefixed with an apostrophe (OWASP's advice for CSV
injection); in XLSX every text is written as a string cell, never a formula.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services.serialize import contact_data, conversation_data, conversation_platform, message_origin

__all__ = [
    "CSV_COLUMNS",
    "EXPORT_COLUMNS",
    "conversation_json_chunks",
    "conversations_json_chunks",
    "conversations_message_batches",
    "csv_cell",
    "csv_chunks",
    "export_filename",
    "message_batches",
    "xlsx_write",
]

EXPORT_COLUMNS = (
    "id",
    "conversation_id",
    "channel",
    "platform",
    "number",
    "contact",
    "alias",
    "roles",
    "chat_step",
    "created_at",
    "direction",
    "origin",
    "sent_by",
    "kind",
    "text",
    "caption",
    "transcription",
    "image_description",
    "media_name",
    "media_mime",
    "media_url",
    "status",
    "error_code",
    "error",
    "sent_at",
    "delivered_at",
    "read_at",
    "rule_id",
    "rule_step",
    "rule",
    "ai_log",
    "ai_backend",
    "reply_to",
    "provider_message_id",
)
CSV_COLUMNS = EXPORT_COLUMNS
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(_FORMULA_START)
_LIST_COLUMNS = tuple(i for i, column in enumerate(EXPORT_COLUMNS) if column == "roles")
# What one statement reads; also what the writers turn into one chunk of bytes.
DEFAULT_CHUNK_ROWS = 2000
# Chats whose columns are remembered between chunks (a date-range export meets many).
_CHATS_REMEMBERED = 5000

_FIELDS = (
    "id",
    "conversation_id",
    "created_at",
    "direction",
    "kind",
    "text",
    "caption",
    "transcription",
    "image_description",
    "media_file",
    "media_mime",
    "status",
    "error_code",
    "error_message",
    "sent_at",
    "delivered_at",
    "read_at",
    "data",
    "rule_id",
    "rule__step",
    "rule__key",
    "sent_by_id",
    "sent_by__username",
    "sent_by__first_name",
    "sent_by__last_name",
    "provider_message_id",
    "reply_to_provider_id",
)


def chunk_rows() -> int:
    return max(1, int(getattr(settings, "EXPORT_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)))


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as the text it is (never a formula)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = ", ".join(str(item) for item in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_filename(conversation: Conversation, extension: str) -> str:
    return f"conversation-{conversation.pk}-{timezone.localtime():%Y%m%d-%H%M}.{extension}"


# --------------------------------------------------------------------------- rows


class _Chats:
    """Each chat's columns, read once for the chats a chunk meets first (two statements)."""

    def __init__(self) -> None:
        self._known: dict[int, dict[str, Any]] = {}

    def columns(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        missing = ids - self._known.keys()
        if missing:
            if len(self._known) + len(missing) > _CHATS_REMEMBERED:
                self._known = {pk: self._known[pk] for pk in ids if pk in self._known}
            self._known.update(_chat_columns(missing))
        return self._known


def _chat_columns(ids: set[int]) -> dict[int, dict[str, Any]]:
    roles: dict[int, list[str]] = {}
    links = Conversation.roles.through.objects.filter(conversation_id__in=ids).order_by("role__name")
    for conversation_id, name in links.values_list("conversation_id", "role__name"):
        roles.setdefault(conversation_id, []).append(name)
    out: dict[int, dict[str, Any]] = {}
    for chat in Conversation.objects.filter(pk__in=ids).select_related("contact", "channel"):
        contact = contact_data(chat.contact)
        out[chat.pk] = {
            "channel": chat.channel.name,
            "platform": conversation_platform(chat, chat.channel),
            "number": contact["phone"] or chat.contact.external_id,
            "contact": contact["name"],
            "alias": chat.contact.alias,
            "roles": roles.get(chat.pk, []),
            "chat_step": chat.step,
        }
    return out


class _RowMaker:
    """Turns one ``values_list(*_FIELDS)`` tuple into an export row (no query)."""

    def __init__(self) -> None:
        self.zone: tzinfo = timezone.get_default_timezone()  # the business's time zone
        self.media_url = reverse("message-media", args=[987654321]).replace("987654321", "{}")

    def time(self, value: datetime | None) -> str | None:
        return value.astimezone(self.zone).isoformat() if value else None

    def __call__(self, values: tuple[Any, ...], chat: dict[str, Any]) -> dict[str, Any]:
        (pk, conversation_id, created_at, direction, kind, text, caption, transcription, image_description,
         media_file, media_mime, status, error_code, error_message, sent_at, delivered_at, read_at, data,
         rule_id, rule_step, rule_key, sent_by_id, username, first_name, last_name, provider_message_id,
         reply_to) = values  # fmt: skip
        data = data if isinstance(data, dict) else {}
        outbound = data.get("outbound") if isinstance(data.get("outbound"), dict) else {}
        media = data.get("media") if isinstance(data.get("media"), dict) else {}
        media_path = outbound.get("media_path") if direction == "out" else ""
        has_file = bool(media_file) or (isinstance(media_path, str) and bool(media_path))
        media_name = media.get("filename") or outbound.get("filename") or ""
        if not media_name and media_file:
            media_name = PurePosixPath(media_file).name
        ai_log = data.get("ai_log")
        return {
            "id": pk,
            "conversation_id": conversation_id,
            **chat,
            "created_at": self.time(created_at),
            "direction": direction,
            "origin": message_origin(direction=direction, kind=kind, data=data, rule_id=rule_id, sent_by_id=sent_by_id),
            "sent_by": (f"{first_name} {last_name}".strip() or username) if sent_by_id else "",
            "kind": kind,
            "text": text,
            "caption": caption,
            "transcription": transcription,
            "image_description": image_description,
            "media_name": media_name,
            "media_mime": media_mime,
            "media_url": self.media_url.format(pk) if has_file else "",
            "status": status,
            "error_code": error_code,
            "error": error_message,
            "sent_at": self.time(sent_at),
            "delivered_at": self.time(delivered_at),
            "read_at": self.time(read_at),
            "rule_id": rule_id,
            "rule_step": rule_step or "",
            "rule": rule_key or "",
            "ai_log": ai_log if isinstance(ai_log, int) and not isinstance(ai_log, bool) else None,
            "ai_backend": str(data.get("ai_backend") or ""),
            "reply_to": reply_to,
            "provider_message_id": provider_message_id or "",
        }


def message_batches(messages: QuerySet[Message], *, chats: _Chats | None = None) -> Iterator[list[dict[str, Any]]]:
    """The export rows of ``messages``, oldest first, a chunk at a time (keyset pagination).

    ``messages`` may be filtered any way (a chat, a date range, an admin selection); its own
    ordering is replaced by ``(created_at, id)``. Rows added while it runs are included when they
    sort after the last chunk read.
    """
    size = chunk_rows()
    chats = chats or _Chats()
    make = _RowMaker()
    queryset = messages.order_by("created_at", "id").values_list(*_FIELDS)
    last: tuple[datetime, int] | None = None
    while True:
        page = queryset
        if last is not None:
            # A range on created_at (the indexes' column) minus the rows of the same instant already read.
            page = page.filter(created_at__gte=last[0]).exclude(created_at=last[0], id__lte=last[1])
        batch = list(page[:size])
        if not batch:
            return
        columns = chats.columns({values[1] for values in batch})
        yield [make(values, columns[values[1]]) for values in batch]
        if len(batch) < size:
            return
        last = (batch[-1][2], batch[-1][0])


def conversations_message_batches(conversation_ids: Iterable[int]) -> Iterator[list[dict[str, Any]]]:
    """Every message of each chat in turn (each chat oldest first)."""
    chats = _Chats()
    for conversation_id in conversation_ids:
        yield from message_batches(Message.objects.filter(conversation_id=conversation_id), chats=chats)


# --------------------------------------------------------------------------- writers


def csv_chunks(batches: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    """A CSV file (UTF-8 with BOM, for Excel; a header row) as one bytes chunk per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode("utf-8")
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_row(row) for row in batch)
        yield buffer.getvalue().encode("utf-8")


def _csv_row(row: dict[str, Any]) -> list[Any]:
    """csv_cell over a row, inlined (34 million cells for a million messages): None is written empty by csv,
    numbers as they are, a text starting like a formula gets its apostrophe, the list of roles is joined."""
    cells = [
        "'" + value if value.__class__ is str and value[:1] in _FORMULA_FIRST else value
        for value in map(row.__getitem__, CSV_COLUMNS)
    ]
    for index in _LIST_COLUMNS:
        cells[index] = csv_cell(cells[index])
    return cells


def _conversation_header(conversation: Conversation) -> dict[str, Any]:
    """The Conversation JSON (contact, alias, channel, step, roles), times in the business's zone."""
    data = conversation_data(conversation, roles=list(conversation.roles.all()))
    zone = timezone.get_default_timezone()
    for name in ("last_message_at", "last_activity_at", "window_closes_at"):
        value = data.get(name)
        if isinstance(value, str) and value:
            data[name] = datetime.fromisoformat(value).astimezone(zone).isoformat()
    return data


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_messages(batches: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """The items of a JSON array, a chunk at a time (without the brackets)."""
    separator = ""
    for batch in batches:
        if batch:
            yield separator + ",\n".join(_json(row) for row in batch)
            separator = ",\n"


def conversation_json_chunks(conversation: Conversation) -> Iterator[bytes]:
    """One chat as JSON: ``{"conversation": {...}, "exported_at": ..., "messages": [...]}``, streamed."""
    yield (
        '{"conversation": ' + _json(_conversation_header(conversation)) + ',\n"exported_at": '
        + _json(timezone.localtime(timezone=timezone.get_default_timezone()).isoformat()) + ',\n"messages": [\n'
    ).encode("utf-8")  # fmt: skip
    for part in _json_messages(conversations_message_batches([conversation.pk])):
        yield part.encode("utf-8")
    yield b"\n]}\n"


def conversations_json_chunks(conversations: Iterable[Conversation], *, number: str) -> Iterator[bytes]:
    """A customer's chats (one per channel) as JSON: ``{"number", "exported_at", "conversations": [{"conversation",
    "messages"}, ...]}``, streamed."""
    now = timezone.localtime(timezone=timezone.get_default_timezone()).isoformat()
    yield ('{"number": ' + _json(number) + ', "exported_at": ' + _json(now) + ',\n"conversations": [').encode("utf-8")
    chats = _Chats()
    for index, conversation in enumerate(conversations):
        yield (("," if index else "") + '\n{"conversation": ' + _json(_conversation_header(conversation))).encode()
        yield b',\n"messages": [\n'
        batches = message_batches(Message.objects.filter(conversation_id=conversation.pk), chats=chats)
        for part in _json_messages(batches):
            yield part.encode("utf-8")
        yield b"\n]}"
    yield b"\n]}\n"


# Excel's limits: 1,048,576 rows a sheet (a longer export continues on the next sheet), 32,767 characters a cell.
XLSX_SHEET_ROWS = 1_000_000
_XLSX_CELL_CHARS = 32_767


def xlsx_write(batches: Iterable[list[dict[str, Any]]], *, file: IO[bytes], title: str = "messages") -> int:
    """Write the rows as an XLSX workbook into ``file`` (openpyxl write-only: flat memory); returns the rows.

    Text cells are strings, never formulas; characters XML cannot hold are dropped.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = None
    written = 0

    def new_sheet(number: int) -> Any:
        created = workbook.create_sheet(title if number == 1 else f"{title} {number}")
        created.append(list(EXPORT_COLUMNS))
        return created

    def cell(value: Any) -> Any:
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, list | tuple):
            value = ", ".join(str(item) for item in value)
        text = ILLEGAL_CHARACTERS_RE.sub("", str(value))[:_XLSX_CELL_CHARS]
        string = WriteOnlyCell(sheet, value=text)
        string.data_type = "s"  # a text that starts with "=" stays text
        return string

    for batch in batches:
        for row in batch:
            if written % XLSX_SHEET_ROWS == 0:
                sheet = new_sheet(written // XLSX_SHEET_ROWS + 1)
            sheet.append([cell(row[column]) for column in EXPORT_COLUMNS])
            written += 1
    if sheet is None:
        new_sheet(1)
    workbook.save(file)
    return written
