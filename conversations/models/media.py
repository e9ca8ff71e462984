from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class MediaUpload(models.Model):
    """A file uploaded to a channel's provider for outbound messages, by content hash.

    The same file (sha256) is sent by the same media id until `expires_at`, set shorter than
    the provider keeps uploads (Meta: 30 days), so nothing needs to be public to be sent.
    """

    channel = models.ForeignKey(
        "conversations.Channel", on_delete=models.CASCADE, related_name="media_uploads", verbose_name=_("channel")
    )
    sha256 = models.CharField(_("sha256"), max_length=64)
    media_id = models.CharField(_("provider media id"), max_length=200)
    mime_type = models.CharField(_("media type"), max_length=100, blank=True)
    uploaded_at = models.DateTimeField(_("uploaded"))
    expires_at = models.DateTimeField(_("reuse until"))

    class Meta:
        verbose_name = _("media upload")
        verbose_name_plural = _("media uploads")
        constraints = [models.UniqueConstraint(fields=["channel", "sha256"], name="uniq_media_upload_channel_sha256")]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.sha256[:12]} -> {self.media_id}"
