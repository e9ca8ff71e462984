"""Inbound media: download through the provider, check size and type, store under MEDIA_ROOT.

Files land in MEDIA_ROOT/<channel id>/<yyyy>/<mm>/<uuid>.<ext>; the provider's
original URL is kept. Transient failures are retried a few times, then the
message is marked (the conversation goes on; agents see what failed).
"""

from __future__ import annotations

import logging
import mimetypes
import time
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from conversations.models import MediaState, Message
from conversations.providers.base import MediaFile, MediaRef, ProviderError
from conversations.services.channels import provider_for

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.5, 2.0)  # two more tries after the first one
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "video/mp4": "mp4",
    "video/3gpp": "3gp",
    "application/pdf": "pdf",
    "text/plain": "txt",
}


class MediaRejected(Exception):
    """The file is not acceptable (too large, a forbidden type); retrying will not help."""


def extension_for(mime_type: str, filename: str = "") -> str:
    base = mime_type.split(";")[0].strip().lower()
    if base in EXTENSIONS:
        return EXTENSIONS[base]
    guessed = mimetypes.guess_extension(base) if base else None
    if guessed:
        return guessed.lstrip(".")
    if "." in filename:
        return filename.rsplit(".", 1)[-1].lower()[:8]
    return "bin"


def media_check(media: MediaFile) -> None:
    """Raise MediaRejected when the file breaks the size or type policy."""
    if media.size > settings.MEDIA_MAX_BYTES:
        raise MediaRejected(f"File is {media.size} bytes; the limit is {settings.MEDIA_MAX_BYTES}.")
    base = media.mime_type.split(";")[0].strip().lower()
    if not any(base.startswith(prefix) for prefix in settings.MEDIA_ALLOWED_MIME_PREFIXES):
        raise MediaRejected(f"File type {base or 'unknown'} is not accepted.")


def media_store(*, message: Message, media: MediaFile) -> str:
    now = timezone.now()
    ext = extension_for(media.mime_type, media.filename)
    name = f"{message.conversation.channel_id}/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{ext}"
    return default_storage.save(name, ContentFile(media.content))


def message_media_download(*, message: Message) -> None:
    """Fetch and store a message's media; marks the message stored or failed (with the reason)."""
    if message.media_state != MediaState.PENDING:
        return
    ref = MediaRef(**(message.data.get("media") or {})) if message.data.get("media") else MediaRef()
    if not ref.media_id and not ref.url:
        ref = MediaRef(media_id=message.media_provider_id, url=message.media_original_url, mime_type=message.media_mime)
    provider = provider_for(message.conversation.channel)
    error = ""
    for attempt in range(len(RETRY_DELAYS) + 1):
        try:
            media = provider.fetch_media(ref, max_bytes=settings.MEDIA_MAX_BYTES)
            media_check(media)
        except ProviderError as exc:
            error = str(exc)
            if not exc.transient:
                break
            if attempt < len(RETRY_DELAYS):
                time.sleep(RETRY_DELAYS[attempt])
            continue
        except MediaRejected as exc:
            error = str(exc)
            break
        message.media_file.name = media_store(message=message, media=media)
        message.media_mime = media.mime_type or message.media_mime
        message.media_size = media.size
        message.media_original_url = (media.original_url or message.media_original_url)[:2000]
        message.media_state = MediaState.STORED
        message.media_error = ""
        message.save(
            update_fields=["media_file", "media_mime", "media_size", "media_original_url", "media_state",
                           "media_error", "updated_at"]
        )  # fmt: skip
        return
    logger.warning("Media of message %s not stored: %s", message.pk, error)
    message.media_state = MediaState.FAILED
    message.media_error = error[:2000]
    message.save(update_fields=["media_state", "media_error", "updated_at"])
