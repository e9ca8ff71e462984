"""Export downloads, streamed: ``/export/conversation/<number>`` (JSON) and ``.csv``, and the helpers the
console API and the admin actions answer with.

A customer's number (or id: an Instagram or Facebook contact has no number) may have chats on several
channels: all of them are exported, one after the other (JSON: one entry each in ``conversations``;
CSV: their rows in turn, the channel in a column); ``?channel=<id>`` keeps one channel's. Only the
chats the user may see count (``conversation_visibility_q``, as in the console): a number with no
chat the user may see is a 404, the same as an unknown number.

Streaming under ASGI: Django consumes a synchronous iterator into one list before sending it
(``StreamingHttpResponse.__aiter__``), which would hold the whole file in memory. Under ASGI the
chunks are therefore handed over by an asynchronous iterator that reads each one in the request's
sync thread (``sync_to_async``, thread-sensitive: the same database connection), so memory stays
one chunk whatever the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import IO

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from conversations.selectors import conversation_list_for_user
from conversations.services import export

CSV_TYPE = "text/csv; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILE_BLOCK = 256 * 1024


def _next_chunk(iterator: Iterator[bytes]) -> bytes | None:
    return next(iterator, None)


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks, each produced in the request's sync thread (where its database connection lives)."""
    read = sync_to_async(_next_chunk, thread_sensitive=True)
    try:
        while (chunk := await read(chunks)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def _streamable(request: HttpRequest, chunks: Iterator[bytes]) -> Iterator[bytes] | AsyncIterator[bytes]:
    return _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks


def streaming_export_response(
    request: HttpRequest, chunks: Iterator[bytes], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    """A download whose body is produced chunk by chunk as it is sent (WSGI or ASGI)."""
    response = StreamingHttpResponse(_streamable(request, chunks), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def file_export_response(request: HttpRequest, file: IO[bytes], *, content_type: str, filename: str) -> FileResponse:
    """A finished export file (open, at its start) sent in blocks and closed after; under ASGI read block by
    block too (Django would read a FileResponse whole into memory there)."""
    response = FileResponse(file, as_attachment=True, filename=filename, content_type=content_type)
    if isinstance(request, ASGIRequest):
        response.streaming_content = _async_chunks(iter(partial(file.read, _FILE_BLOCK), b""))
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _number_q(number: str) -> Q:
    """A contact whose provider id or phone is ``number`` (as typed, or its digits, with or without +)."""
    query = Q(contact__external_id=number) | Q(contact__phone=number)
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits and digits != number:
        query |= Q(contact__external_id=digits) | Q(contact__phone=digits)
    if digits:
        query |= Q(contact__external_id=f"+{digits}") | Q(contact__phone=f"+{digits}")
    return query


@require_safe
@login_required
def conversation_number_export(
    request: HttpRequest, number: str, file_format: str | None = None
) -> StreamingHttpResponse | HttpResponseBadRequest:
    """Every chat of the customer ``number`` the user may see, as JSON (default) or CSV (``.csv``)."""
    conversations = conversation_list_for_user(user=request.user).filter(_number_q(number))
    channel = request.GET.get("channel", "")
    if channel:
        if not channel.isdigit():
            return HttpResponseBadRequest("channel must be a channel id", content_type="text/plain; charset=utf-8")
        conversations = conversations.filter(channel_id=int(channel))
    conversations = list(conversations.prefetch_related("roles").order_by("channel_id", "pk"))
    if not conversations:
        raise Http404
    stamp = f"{timezone.localtime(timezone=timezone.get_default_timezone()):%Y%m%d-%H%M}"
    safe_number = "".join(ch for ch in number if ch.isalnum())[:40] or "contact"
    if file_format == "csv":
        chunks = export.csv_chunks(export.conversations_message_batches(c.pk for c in conversations))
        return streaming_export_response(
            request, chunks, content_type=CSV_TYPE, filename=f"conversation-{safe_number}-{stamp}.csv"
        )
    chunks = export.conversations_json_chunks(conversations, number=number)
    return streaming_export_response(
        request, chunks, content_type=JSON_TYPE, filename=f"conversation-{safe_number}-{stamp}.json"
    )
