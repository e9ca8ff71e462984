"""Customer media, served only to users who may see the conversation.

Files under MEDIA_ROOT are never public, except the business's own under MEDIA_ROOT/public/.
A message's file is reached by the message id (its stored path is never in a URL), after
login and `access_conversation_by_id` (404 alike for missing and forbidden), with headers that
keep a hostile file from running on our origin: its type comes from the stored extension's
allowlist (never the customer's claim), `X-Content-Type-Options: nosniff`,
`Content-Security-Policy: sandbox`, and a download unless the type is on the inline allowlist.
A single byte range (`Range: bytes=...`) is answered 206, so audio and video players can seek.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe
from django.views.static import serve

from conversations.models import Conversation, Message
from conversations.selectors import access_conversation_by_id
from conversations.services.media_types import UNKNOWN_TYPE, served_type
from conversations.services.serialize import message_file_name

PROTECTIVE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
}


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range: bytes=a-b` (or `a-`, or `-n`) within `size` bytes.

    None: no usable single range (absent, malformed, several ranges): the whole file is sent.
    ValueError: a well-formed range that starts past the end (416).
    """
    match = _RANGE.match(header.strip()) if header else None
    if match is None or size <= 0:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last n bytes
        n = int(last)
        if n == 0:
            raise ValueError("empty suffix range")
        return max(size - n, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise ValueError("range starts past the end")
    if end < start:
        return None
    return start, end


def _file_slice(handle: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        left = end - start + 1
        while left > 0 and (chunk := handle.read(min(_CHUNK, left))):
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _protect(response: HttpResponse, *, inline: bool, filename: str) -> HttpResponse:
    for name, value in PROTECTIVE_HEADERS.items():
        response[name] = value
    response["Content-Disposition"] = content_disposition_header(not inline, filename)
    return response


@require_safe
@login_required
def message_media(request: HttpRequest, message_id: int) -> HttpResponse:
    """The file of message `message_id`, if the user may see its conversation; 404 otherwise."""
    message = (
        Message.objects.filter(pk=message_id).only("id", "conversation_id", "direction", "media_file", "data").first()
    )
    name = message_file_name(message) if message is not None else ""
    if not name:
        raise Http404
    try:
        access_conversation_by_id(user=request.user, conversation_id=message.conversation_id)
    except Conversation.DoesNotExist:
        raise Http404 from None
    try:
        handle = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError, SuspiciousFileOperation):
        raise Http404 from None
    content_type, inline = served_type(name)
    extension = PurePosixPath(name).suffix.lower() if content_type != UNKNOWN_TYPE else ".bin"
    size = default_storage.size(name)
    response: HttpResponse | StreamingHttpResponse
    try:
        wanted = byte_range(request.headers.get("Range", ""), size)
    except ValueError:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _protect(response, inline=False, filename=f"message-{message.pk}{extension}")
    if wanted is None:
        response = FileResponse(handle, content_type=content_type)
    else:
        first, last = wanted
        response = StreamingHttpResponse(_file_slice(handle, first, last), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-cache"
    return _protect(response, inline=inline, filename=f"message-{message.pk}{extension}")


@require_safe
def public_media(request: HttpRequest, path: str) -> HttpResponse:
    """A file the business publishes (MEDIA_ROOT/public/...), for providers that fetch by link."""
    try:
        response = serve(request, path, document_root=str(Path(settings.MEDIA_ROOT) / settings.MEDIA_PUBLIC_DIR))
    except SuspiciousFileOperation:  # ../ out of the public folder
        raise Http404 from None
    content_type, inline = served_type(path)
    response["Content-Type"] = content_type
    return _protect(response, inline=inline, filename=PurePosixPath(path).name)
