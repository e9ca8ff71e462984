"""The admin's "export the selection" actions on conversations and messages (CSV and XLSX), streamed.

CSV is written as it is sent; XLSX (a zip, written whole) goes to an anonymous temporary file through
openpyxl's write-only workbook, then is sent in blocks. Both read the rows a chunk at a time
(conversations.services.export), so "select all" over many messages holds one chunk in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.services import export
from conversations.views_export import CSV_TYPE, XLSX_TYPE, file_export_response, streaming_export_response


def _stamp() -> str:
    return f"{timezone.localtime(timezone=timezone.get_default_timezone()):%Y%m%d-%H%M}"


def _conversation_ids(queryset: QuerySet) -> list[int]:
    # Ids only (small even for many chats); their messages are then read a chunk at a time.
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def _xlsx(request: HttpRequest, batches: Iterable[list[dict[str, Any]]], name: str) -> HttpResponseBase:
    file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response once sent
    export.xlsx_write(batches, file=file)
    file.seek(0)
    return file_export_response(request, file, content_type=XLSX_TYPE, filename=f"{name}-{_stamp()}.xlsx")


@admin.action(description=_("Export the messages of the selected conversations (CSV)"), permissions=["view"])
def conversations_export_csv(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponseBase:
    chunks = export.csv_chunks(export.conversations_message_batches(_conversation_ids(queryset)))
    return streaming_export_response(request, chunks, content_type=CSV_TYPE, filename=f"conversations-{_stamp()}.csv")


@admin.action(description=_("Export the messages of the selected conversations (Excel)"), permissions=["view"])
def conversations_export_xlsx(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponseBase:
    return _xlsx(request, export.conversations_message_batches(_conversation_ids(queryset)), "conversations")


@admin.action(description=_("Export the selected messages (CSV)"), permissions=["view"])
def messages_export_csv(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponseBase:
    chunks = export.csv_chunks(export.message_batches(queryset))
    return streaming_export_response(request, chunks, content_type=CSV_TYPE, filename=f"messages-{_stamp()}.csv")


@admin.action(description=_("Export the selected messages (Excel)"), permissions=["view"])
def messages_export_xlsx(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponseBase:
    return _xlsx(request, export.message_batches(queryset), "messages")


CONVERSATION_EXPORT_ACTIONS = [conversations_export_csv, conversations_export_xlsx]
MESSAGE_EXPORT_ACTIONS = [messages_export_csv, messages_export_xlsx]
