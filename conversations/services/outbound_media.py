"""Outbound files: turn an OutboundMessage's `media_path` into what the provider can send.

By default (OUTBOUND_MEDIA_MODE=upload) the file is uploaded to the provider and sent by
media id, so nothing of ours needs to be public; the id is reused for the same content
(sha256, per channel) for MEDIA_UPLOAD_REUSE_DAYS. With OUTBOUND_MEDIA_MODE=link and
MEDIA_PUBLIC_BASE_URL set, files the business publishes (under MEDIA_ROOT/public/) go as links;
any other file is uploaded all the same, never made public.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import Channel, MediaUpload
from conversations.providers.base import OutboundMessage, Provider, ProviderError
from conversations.services.media_types import UNKNOWN_TYPE, media_sniff, served_type


def public_url(path_or_url: str) -> str:
    """An absolute URL a provider can fetch for a file under MEDIA_ROOT (a URL is returned as it is)."""
    if "://" in path_or_url:
        return path_or_url
    base = settings.MEDIA_PUBLIC_BASE_URL or ""
    return base.rstrip("/") + "/" + path_or_url.lstrip("/") if base else path_or_url


def media_public_url(path: str) -> str:
    """MEDIA_PUBLIC_BASE_URL + path for a published file (under MEDIA_ROOT/public/); '' otherwise."""
    base = settings.MEDIA_PUBLIC_BASE_URL
    if not base or not path.startswith(settings.MEDIA_PUBLIC_DIR + "/"):
        return ""
    return base.rstrip("/") + "/" + path.lstrip("/")


def _read(path: str) -> bytes:
    try:
        with default_storage.open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise ProviderError(f"media file {path} is missing: {exc}", code="media_missing", transient=False) from exc


def _local_path(path: str) -> str:
    """The absolute path of a stored file under MEDIA_ROOT; ProviderError when it is missing or outside."""
    try:
        absolute = default_storage.path(path)
    except (SuspiciousFileOperation, NotImplementedError) as exc:  # outside MEDIA_ROOT; a remote storage
        reason = f"media file {path} cannot be attached: {exc}"
        raise ProviderError(reason, code="media_missing", transient=False) from exc
    if not default_storage.exists(path):
        raise ProviderError(f"media file {path} is missing", code="media_missing", transient=False)
    return absolute


def _mime_type(content: bytes, path: str) -> str:
    sniffed = media_sniff(content)
    if sniffed.known:
        return sniffed.mime_type
    by_name, _ = served_type(path)
    return by_name.split(";")[0] if by_name != UNKNOWN_TYPE else UNKNOWN_TYPE


def media_upload_get_or_create(
    *, channel: Channel, provider: Provider, content: bytes, mime_type: str, filename: str, now: datetime
) -> str:
    """The provider media id for `content` on `channel`: cached while fresh, else uploaded now."""
    digest = hashlib.sha256(content).hexdigest()
    cached = (
        MediaUpload.objects.filter(channel=channel, sha256=digest, expires_at__gt=now)
        .values_list("media_id", flat=True)
        .first()
    )
    if cached:
        return cached
    media_id = provider.upload_media(content=content, mime_type=mime_type, filename=filename)
    values = {
        "media_id": media_id,
        "mime_type": mime_type[:100],
        "uploaded_at": now,
        "expires_at": now + timedelta(days=settings.MEDIA_UPLOAD_REUSE_DAYS),
    }
    try:
        with transaction.atomic():
            MediaUpload.objects.update_or_create(channel=channel, sha256=digest, defaults=values)
    except IntegrityError:  # another worker stored the same file meanwhile: both ids are valid
        pass
    return media_id


def outbound_media_prepare(
    *, channel: Channel, provider: Provider, outbound: OutboundMessage, now: datetime | None = None
) -> OutboundMessage:
    """`outbound` with its media_path replaced by a media id (upload) or a public link.

    Raises ProviderError (permanent when the file is missing, the provider's own on upload errors).
    """
    path = outbound.media_path.strip()
    if not path:
        return outbound
    if provider.sends_files_inline:  # the provider attaches the file to the message itself (Chatwoot)
        return replace(outbound, media_path=_local_path(path))
    if settings.OUTBOUND_MEDIA_MODE == "link" and (link := media_public_url(path)):
        return replace(outbound, media_path="", media_link=link)
    content = _read(path)
    media_id = media_upload_get_or_create(
        channel=channel,
        provider=provider,
        content=content,
        mime_type=_mime_type(content, path),
        filename=outbound.filename or PurePosixPath(path).name,
        now=now or timezone.now(),
    )
    return replace(outbound, media_path="", media_id=media_id)
