"""Inbound media: download through the provider, check size and type, store under MEDIA_ROOT.

Files land in MEDIA_ROOT/<channel id>/<yyyy>/<mm>/<uuid>.<ext>, a private folder: they are
served only by `conversations.views_media` to users who may see the conversation. The
extension comes from the file's content (`media_types.media_sniff`), never from the
customer's claim. Customer media is never thrown away: a download whose sha256 differs
from the provider's is fetched once more and, if it still differs, kept and marked
(`media_checksum_mismatch`); a transient failure leaves the message in "retry" for the
sweeper (`media_refetch_due`) while the provider still keeps the file.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from conversations import events
from conversations.models import MediaState, Message
from conversations.providers.base import MediaFile, MediaRef, Provider, ProviderError
from conversations.services.channels import provider_for
from conversations.services.media_types import media_sniff
from conversations.services.serialize import message_event_data

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.5, 2.0)  # two more tries after the first one


class MediaRejected(Exception):
    """The file is not acceptable (too large, a forbidden type); retrying will not help."""


def media_check(media: MediaFile) -> None:
    """Raise MediaRejected when the file breaks the size or type policy."""
    if media.size > settings.MEDIA_MAX_BYTES:
        raise MediaRejected(f"File is {media.size} bytes; the limit is {settings.MEDIA_MAX_BYTES}.")
    base = media.mime_type.split(";")[0].strip().lower()
    if not any(base.startswith(prefix) for prefix in settings.MEDIA_ALLOWED_MIME_PREFIXES):
        raise MediaRejected(f"File type {base or 'unknown'} is not accepted.")


def media_store(*, message: Message, media: MediaFile, now: datetime | None = None) -> tuple[str, str]:
    """Save the bytes under the message's channel folder; (stored name, content type by content)."""
    now = now or timezone.now()
    sniffed = media_sniff(media.content, claimed_mime=media.mime_type)
    name = f"{message.conversation.channel_id}/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{sniffed.extension}"
    return default_storage.save(name, ContentFile(media.content)), sniffed.mime_type


def _media_ref(message: Message) -> MediaRef:
    data = message.data.get("media") or {}
    ref = MediaRef(**data) if data else MediaRef()
    if not ref.media_id and not ref.url:
        ref = MediaRef(media_id=message.media_provider_id, url=message.media_original_url, mime_type=message.media_mime)
    return ref


def _fetch(provider: Provider, ref: MediaRef, retry_delays: Sequence[float]) -> MediaFile:
    """One download, tried again after each delay while the provider's error is transient."""
    for delay in retry_delays:
        try:
            return provider.fetch_media(ref, max_bytes=settings.MEDIA_MAX_BYTES)
        except ProviderError as exc:
            if not exc.transient:
                raise
        time.sleep(delay)
    return provider.fetch_media(ref, max_bytes=settings.MEDIA_MAX_BYTES)


def message_media_download(*, message: Message, retry_delays: Sequence[float] = RETRY_DELAYS) -> None:
    """Fetch and store a message's media; marks it stored, "retry" (transient failure) or failed.

    A file whose checksum differs from the provider's is downloaded once more; if it still
    differs it is kept all the same, with `media_checksum_mismatch` set and the reason in
    `media_error`, so agents see it and the customer's file is not lost.
    """
    if message.media_state not in (MediaState.PENDING, MediaState.RETRY):
        return
    provider = provider_for(message.conversation.channel)
    ref = _media_ref(message)
    try:
        media = _fetch(provider, ref, retry_delays)
        if media.checksum_error:
            media = _fetch_again(message, provider, ref, retry_delays, first=media)
        media_check(media)
    except ProviderError as exc:
        _mark_not_stored(message, str(exc), retry=exc.transient)
        return
    except MediaRejected as exc:
        _mark_not_stored(message, str(exc), retry=False)
        return
    message.media_file.name, sniffed_mime = media_store(message=message, media=media)
    message.media_mime = (media.mime_type or message.media_mime)[:100]
    if sniffed_mime != media.mime_type.split(";")[0].strip().lower():
        message.data = {**message.data, "media_sniffed_type": sniffed_mime}
    message.media_size = media.size
    message.media_original_url = (media.original_url or message.media_original_url)[:2000]
    message.media_state = MediaState.STORED
    message.media_checksum_mismatch = bool(media.checksum_error)
    message.media_error = media.checksum_error[:2000]
    if media.checksum_error:
        logger.warning("Media of message %s kept despite a checksum mismatch: %s", message.pk, media.checksum_error)
    message.save(
        update_fields=["media_file", "media_mime", "media_size", "media_original_url", "media_state",
                       "media_checksum_mismatch", "media_error", "data", "updated_at"]
    )  # fmt: skip
    _broadcast_media(message)


def _broadcast_media(message: Message) -> None:
    """Consoles showing the chat swap "not available yet" for the file (or say it failed) live."""
    events.broadcast_on_commit(
        groups=events.groups_for(message.conversation), name=events.MESSAGE_UPDATED, data=message_event_data(message)
    )


def _fetch_again(
    message: Message, provider: Provider, ref: MediaRef, retry_delays: Sequence[float], *, first: MediaFile
) -> MediaFile:
    """The second download after a checksum mismatch; the first copy if that one fails (never lose both)."""
    logger.warning("Media of message %s: %s; downloading it again", message.pk, first.checksum_error)
    try:
        return _fetch(provider, ref, retry_delays)
    except ProviderError as exc:
        logger.warning("Media of message %s: the second download failed (%s); keeping the first", message.pk, exc)
        return first


def _mark_not_stored(message: Message, error: str, *, retry: bool) -> None:
    logger.warning("Media of message %s not stored (%s): %s", message.pk, "will retry" if retry else "final", error)
    message.media_state = MediaState.RETRY if retry else MediaState.FAILED
    message.media_error = error[:2000]
    message.save(update_fields=["media_state", "media_error", "updated_at"])
    _broadcast_media(message)


def media_refetch_window(*, now: datetime) -> tuple[datetime, datetime]:
    """(received after, last tried before): which "retry" messages the sweeper fetches again now."""
    return (
        now - timedelta(hours=settings.MEDIA_REFETCH_MAX_AGE_HOURS),
        now - timedelta(seconds=settings.MEDIA_REFETCH_AFTER_SECONDS),
    )


def media_refetch_expire(*, now: datetime) -> int:
    """Mark "retry" media older than the provider keeps it as failed for good; returns how many."""
    received_after, _ = media_refetch_window(now=now)
    hours = settings.MEDIA_REFETCH_MAX_AGE_HOURS
    return Message.objects.filter(media_state=MediaState.RETRY, created_at__lt=received_after).update(
        media_state=MediaState.FAILED,
        media_error=f"The provider keeps media for a limited time; not downloaded within {hours} hours.",
        updated_at=now,
    )


def message_media_refetch(*, message_id: int, now: datetime | None = None) -> str:
    """One more download of a "retry" message's media (the sweeper's task); its media state after.

    The message is claimed first (a conditional update of its `updated_at`), so two tasks for
    the same message (a sweep that ran again meanwhile) never both download and store it.
    """
    message = Message.objects.select_related("conversation__channel").filter(pk=message_id).first()
    if message is None:
        return "missing"
    if message.media_state != MediaState.RETRY:
        return message.media_state
    claimed = Message.objects.filter(pk=message.pk, media_state=MediaState.RETRY, updated_at=message.updated_at)
    if not claimed.update(updated_at=now or timezone.now()):
        return "claimed"
    message_media_download(message=message, retry_delays=())
    return message.media_state
