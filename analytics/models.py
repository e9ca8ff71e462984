"""What the dashboard and the analysts' exports need that the conversations do not keep: when each chat was
resolved (closed), and the date-range message exports with their progress and file."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class ConversationClosing(models.Model):
    """One closing of a chat: from the first customer message of the episode to the moment it was closed.

    Written by analytics.services.resolutions when a chat's status becomes "closed" (the console's
    Close, or Chatwoot resolving it); the dashboard's resolution time reads it. A chat the customer
    reopens and an agent closes again gets another row.
    """

    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.CASCADE,
        related_name="closings",
        verbose_name=_("conversation"),
    )
    opened_at = models.DateTimeField(_("opened"), help_text=_("The first customer message since the last closing."))
    closed_at = models.DateTimeField(_("closed"))

    class Meta:
        ordering = ["-closed_at"]
        verbose_name = _("conversation closing")
        verbose_name_plural = _("conversation closings")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["closed_at"], name="closing_closed_at"),
            models.Index(fields=["conversation", "closed_at"], name="closing_conv_closed_at"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} closed {self.closed_at:%Y-%m-%d %H:%M}"


class MessageExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class MessageExport(models.Model):
    """Every message of a date range (business time zone), optionally of one channel, as a CSV file written by
    a Celery task (analytics.services.export_jobs). The file is private: under MEDIA_ROOT/exports/, served
    only to staff through the admin, never at a public URL."""

    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"), help_text=_("Included."))
    channel = models.ForeignKey(
        "conversations.Channel",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("channel"),
        help_text=_("Empty: every channel."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=MessageExportStatus.choices, default=MessageExportStatus.QUEUED
    )
    rows_done = models.PositiveBigIntegerField(_("rows written"), default=0)
    rows_total = models.PositiveBigIntegerField(
        _("rows expected"), default=0, help_text=_("Counted when the export starts; messages may arrive meanwhile.")
    )
    file_path = models.CharField(_("file"), max_length=300, blank=True, help_text=_("Under MEDIA_ROOT; private."))
    file_size = models.PositiveBigIntegerField(_("file size"), null=True, blank=True)
    error = models.TextField(_("why it failed"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("message export")
        verbose_name_plural = _("message exports")

    def __str__(self) -> str:
        return gettext("%(start)s to %(end)s") % {
            "start": f"{self.date_from:%Y-%m-%d}",
            "end": f"{self.date_to:%Y-%m-%d}",
        }
