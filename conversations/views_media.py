"""Customer media, served only to users who may see the conversation.

Files under MEDIA_ROOT are never public, except the business's own under MEDIA_ROOT/public/.
A message's file is reached by the message id (its stored path is never in a URL), after
login and `access_conversation_by_id` (404 alike for missing and forbidden), with headers that
keep a hostile file from running on our origin: its type comes from the stored extension's
allowlist (never the customer's claim), `X-Content-Type-Options: nosniff`,
`Content-Security-Policy: sandbox`, and a download unless the type is on the inline allowlist.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe
from django.views.static import serve

from conversations.models import Conversation, Message
from conversations.selectors import access_conversation_by_id
from conversations.services.media_types import UNKNOWN_TYPE, served_type

PROTECTIVE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
}


def _protect(response: HttpResponse, *, inline: bool, filename: str) -> HttpResponse:
    for name, value in PROTECTIVE_HEADERS.items():
        response[name] = value
    response["Content-Disposition"] = content_disposition_header(not inline, filename)
    return response


@require_safe
@login_required
def message_media(request: HttpRequest, message_id: int) -> HttpResponse:
    """The file of message `message_id`, if the user may see its conversation; 404 otherwise."""
    message = Message.objects.filter(pk=message_id).only("id", "conversation_id", "media_file").first()
    if message is None or not message.media_file:
        raise Http404
    try:
        access_conversation_by_id(user=request.user, conversation_id=message.conversation_id)
    except Conversation.DoesNotExist:
        raise Http404 from None
    name = message.media_file.name
    try:
        handle = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    content_type, inline = served_type(name)
    extension = PurePosixPath(name).suffix.lower() if content_type != UNKNOWN_TYPE else ".bin"
    response = FileResponse(handle, content_type=content_type)
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
