from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Direction(models.TextChoices):
    IN = "in", _("Inbound")
    OUT = "out", _("Outbound")


class MessageKind(models.TextChoices):
    TEXT = "text", _("Text")
    INTERACTIVE = "interactive", _("Interactive reply")
    BUTTON = "button", _("Template button")
    IMAGE = "image", _("Image")
    AUDIO = "audio", _("Audio")
    VIDEO = "video", _("Video")
    DOCUMENT = "document", _("Document")
    STICKER = "sticker", _("Sticker")
    LOCATION = "location", _("Location")
    CONTACTS = "contacts", _("Contacts")
    REACTION = "reaction", _("Reaction")
    REFERRAL = "referral", _("Ad referral")
    TEMPLATE = "template", _("Template")
    LIST = "list", _("Interactive list")
    BUTTONS = "buttons", _("Interactive buttons")
    SYSTEM = "system", _("System")
    UNSUPPORTED = "unsupported", _("Unsupported")


MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


class MessageStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")


# Status ticks only move forward (Meta does not guarantee order); failed always wins.
STATUS_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4, "played": 4, "failed": 9}


class ProcessingState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class MediaState(models.TextChoices):
    NONE = "", _("No media")
    PENDING = "pending", _("Pending download")
    STORED = "stored", _("Stored")
    RETRY = "retry", _("Download failed, will retry")
    FAILED = "failed", _("Download failed")


class EnrichmentState(models.TextChoices):
    """What became of a media message's transcription or description (conversations.services.enrichment)."""

    NONE = "", _("Not needed")
    QUEUED = "queued", _("In progress")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")  # the file could not be read (corrupt, empty, unsupported) or the provider refused
    SKIPPED = "skipped", _("Skipped")  # too long, or the service shed load
    UNAVAILABLE = "unavailable", _("Unavailable")  # no model or no backend configured


class Message(models.Model):
    """One message in or out. (provider, provider_message_id) is unique: retries are no-ops."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="messages", verbose_name=_("conversation")
    )
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    kind = models.CharField(_("type"), max_length=20, choices=MessageKind.choices, default=MessageKind.TEXT)
    text = models.TextField(_("text"), blank=True)
    caption = models.TextField(_("caption"), blank=True)
    data = models.JSONField(
        _("structured content"),
        default=dict,
        blank=True,
        help_text=_("Options, location, contacts, reaction, interactive reply id..."),
    )
    media_file = models.FileField(_("media file"), upload_to="media/%Y/%m", max_length=500, blank=True)
    media_mime = models.CharField(_("media type"), max_length=100, blank=True)
    media_size = models.PositiveBigIntegerField(_("media size"), null=True, blank=True)
    media_provider_id = models.CharField(_("provider media id"), max_length=200, blank=True)
    media_original_url = models.URLField(_("original media URL"), max_length=2000, blank=True)
    media_state = models.CharField(_("media state"), max_length=10, choices=MediaState.choices, blank=True, default="")
    media_error = models.TextField(_("media error"), blank=True)
    media_checksum_mismatch = models.BooleanField(
        _("media checksum mismatch"),
        default=False,
        help_text=_("The file differs from the checksum the provider announced (downloaded twice); kept anyway."),
    )
    transcription = models.TextField(_("transcription"), blank=True)
    image_description = models.TextField(_("image description"), blank=True)
    # Transcription (audio) or description (image): its state and, unless done, why (a reason code of
    # conversations.services.enrichment.REASONS); backend, timings and details in data["enrichment"].
    enrichment_state = models.CharField(
        _("transcription / description"), max_length=12, choices=EnrichmentState.choices, blank=True, default=""
    )
    enrichment_reason = models.CharField(_("transcription / description note"), max_length=40, blank=True)
    provider = models.CharField(_("provider"), max_length=20)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, null=True, blank=True)
    reply_to_provider_id = models.CharField(_("reply to"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.RECEIVED)
    error_code = models.CharField(_("error code"), max_length=50, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    processing_state = models.CharField(
        _("processing"), max_length=10, choices=ProcessingState.choices, default=ProcessingState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(
        _("attempts"), default=0, help_text=_("Outbound: delivery attempts. Inbound: processing attempts.")
    )
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    awaiting_ai = models.BooleanField(
        _("awaiting the AI"), default=False, help_text=_("Inbound: buffered for the AI's next answer.")
    )
    unmatched_step = models.CharField(
        _("unmatched at step"),
        max_length=100,
        null=True,
        blank=True,
        help_text=_("Inbound: no rule of this step understood it (empty: the step was not recorded)."),
    )
    rule = models.ForeignKey(
        "flows.Rule", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages", verbose_name=_("rule")
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sent_messages",
        verbose_name=_("sent by"),
    )
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)
    provider_timestamp = models.DateTimeField(_("provider timestamp"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            # NULLs are distinct in both SQLite and MySQL, so queued outbound rows without an id coexist.
            models.UniqueConstraint(fields=["provider", "provider_message_id"], name="uniq_message_provider_id"),
        ]
        indexes = [
            # A chat's messages in order; direction and kind ride along so the dashboard's counts over a
            # date range read this index alone (bench/dashboard_api.sh: 1.5 s -> 0.5 s at 2,000,000
            # messages). Neither column changes after the INSERT: no extra writes on status updates.
            models.Index(fields=["conversation", "created_at", "direction", "kind"], name="msg_conv_created_dir_kind"),
            models.Index(fields=["direction", "processing_state", "created_at"], name="msg_processing"),
            models.Index(fields=["status", "created_at"], name="msg_status_created"),
            models.Index(fields=["kind", "created_at"], name="msg_kind_created"),
            models.Index(fields=["awaiting_ai", "created_at"], name="msg_awaiting_ai"),
            # The dashboard's "where the flow loses people": only unmatched messages have a step here.
            models.Index(fields=["unmatched_step", "created_at"], name="msg_unmatched_step"),
            # The pipeline asks on every turn whether a chat has an inbound message still waiting
            # ("pending") or a reply queued or being sent: without these, a long chat is scanned whole.
            models.Index(fields=["conversation", "processing_state"], name="msg_conv_processing"),
            models.Index(fields=["conversation", "status"], name="msg_conv_status"),
        ]

    def __str__(self) -> str:
        body = self.text or self.caption or self.kind
        return f"{self.get_direction_display()}: {body[:60]}"

    @property
    def is_media(self) -> bool:
        return self.kind in MEDIA_KINDS


class MessageSearchText(models.Model):
    """A copy of a message's text under the console's full-text index (MySQL/MariaDB only).

    Kept apart from :class:`Message` and written behind the pipeline, in batches
    (:mod:`conversations.services.search_index`): InnoDB processes a FULLTEXT index's rows at each
    commit, which on the message table itself stalled the pipeline's turns (p95 602 ms at 80
    messages/s). Elsewhere the table stays empty and the search reads the messages themselves.
    """

    message = models.OneToOneField(Message, primary_key=True, on_delete=models.CASCADE, related_name="+")
    conversation_id = models.BigIntegerField()
    text = models.TextField()

    class Meta:
        verbose_name = _("message search text")
        verbose_name_plural = _("message search texts")
        default_permissions = ()

    def __str__(self) -> str:
        return self.text[:60]
