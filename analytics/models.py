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


class RollupMark(models.Model):
    """How far the dashboard's summary tables have read the messages (one row).

    Every summary row counts the messages with an id up to ``high_id`` (analytics.services.rollup);
    the dashboard reads the messages above it straight from the message table. ``zone`` is the time
    zone the hours were cut in: when settings.TIME_ZONE changes, the summaries are built again.
    """

    high_id = models.PositiveBigIntegerField(_("messages read up to id"), default=0)
    zone = models.CharField(_("time zone"), max_length=64, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("dashboard summary mark")
        verbose_name_plural = _("dashboard summary marks")
        default_permissions = ()

    def __str__(self) -> str:
        return f"messages up to {self.high_id} ({self.zone})"


class ChatHour(models.Model):
    """One chat's messages in one hour of the business's day (its time zone): how many came in, went out,
    and who wrote the replies. Written only by analytics.services.rollup."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The chat's channel, so that a dashboard of every chat reads no chat row (a chat never changes channel).
    channel = models.ForeignKey("conversations.Channel", on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()  # 0-23, business time
    inbound = models.PositiveIntegerField(default=0)
    outbound = models.PositiveIntegerField(default=0)
    replies_bot = models.PositiveIntegerField(default=0)
    replies_ai = models.PositiveIntegerField(default=0)
    replies_human = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["conversation", "day", "hour"], name="chathour_key")]
        indexes = [
            models.Index(fields=["day", "conversation"], name="chathour_day_conv"),
            models.Index(fields=["channel", "day"], name="chathour_channel_day"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.day} {self.hour:02d}h"


class ChatHourKind(models.Model):
    """One chat's messages of one type in one hour of the business's day. Written only by the rollup."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The chat's channel, so that a dashboard of every chat reads no chat row (a chat never changes channel).
    channel = models.ForeignKey("conversations.Channel", on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20)
    messages = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["conversation", "day", "hour", "kind"], name="chathourkind_key")]
        indexes = [
            models.Index(fields=["day", "conversation"], name="chathourkind_day_conv"),
            models.Index(fields=["channel", "day"], name="chathourkind_channel_day"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.day} {self.hour:02d}h {self.kind}"


class FirstResponse(models.Model):
    """An agent's reply that was the first human reply to a customer's turn, with how long the customer
    waited (definition: analytics.services.metrics). Recorded by the rollup after the reply is stored."""

    message = models.OneToOneField(
        "conversations.Message", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The chat's channel, so that a dashboard of every chat reads no chat row (a chat never changes channel).
    channel = models.ForeignKey("conversations.Channel", on_delete=models.CASCADE, related_name="+", db_index=False)
    replied_at = models.DateTimeField()
    wait = models.DurationField()

    class Meta:
        default_permissions = ()
        indexes = [
            models.Index(fields=["replied_at", "conversation"], name="firstresponse_at_conv"),
            models.Index(fields=["channel", "replied_at"], name="firstresponse_channel_at"),
            models.Index(fields=["conversation", "replied_at"], name="firstresponse_conv_at"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} waited {self.wait}"


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
