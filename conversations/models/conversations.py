from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ConversationStatus(models.TextChoices):
    BOT = "bot", _("Bot (rules)")
    AI = "ai", _("AI")
    HUMAN = "human", _("Human agent")
    CLOSED = "closed", _("Closed")


class Platform(models.TextChoices):
    """Where a customer writes from (a Chatwoot inbox relays Instagram or Facebook; Meta and YCloud are WhatsApp)."""

    WHATSAPP = "whatsapp", "WhatsApp"
    INSTAGRAM = "instagram", "Instagram"
    FACEBOOK = "facebook", "Facebook Messenger"


class Conversation(models.Model):
    """The chat state of one contact on one channel (the seed's chat_state)."""

    contact = models.ForeignKey(
        "conversations.Contact", on_delete=models.CASCADE, related_name="conversations", verbose_name=_("contact")
    )
    channel = models.ForeignKey(
        "conversations.Channel", on_delete=models.PROTECT, related_name="conversations", verbose_name=_("channel")
    )
    step = models.CharField(_("step"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.BOT
    )
    bot_paused = models.BooleanField(_("bot paused"), default=False, help_text=_("A human has taken over."))
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
        verbose_name=_("assigned agent"),
    )
    roles = models.ManyToManyField(
        "accounts.Role", through="accounts.ChatRole", blank=True, related_name="conversations", verbose_name=_("roles")
    )
    unread_count = models.PositiveIntegerField(_("unread"), default=0)
    needs_attention = models.BooleanField(
        _("needs attention"), default=False, help_text=_("The bot had no answer; an agent should look.")
    )
    attention_reason = models.TextField(
        _("attention reason"),
        blank=True,
        help_text=_("Why the chat needs attention (shown translated when it is one of the known reasons)."),
    )
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(
        _("last customer message"), null=True, blank=True, help_text=_("Opens Meta's 24-hour service window.")
    )
    last_message_preview = models.CharField(_("last message"), max_length=200, blank=True)
    platform = models.CharField(
        _("platform"),
        max_length=20,
        blank=True,
        choices=Platform.choices,
        help_text=_("Where the customer writes from: WhatsApp, Instagram or Facebook."),
    )
    provider_thread_id = models.CharField(
        _("provider conversation id"),
        max_length=100,
        blank=True,
        help_text=_("The provider's own conversation that replies go to (Chatwoot's conversation id)."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-last_activity_at"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        constraints = [models.UniqueConstraint(fields=["contact", "channel"], name="uniq_conversation_contact_channel")]
        # Who sees what: conversations.visibility.
        permissions = [
            ("view_all_conversations", _("See every chat")),
            ("take_unrouted_conversations", _("Take chats without a role")),
        ]
        indexes = [
            models.Index(fields=["status", "-last_activity_at"], name="conv_status_activity"),
            models.Index(fields=["step"], name="conv_step"),
            models.Index(fields=["-last_activity_at"], name="conv_activity"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} @ {self.channel.name}"

    @property
    def is_test_chat(self) -> bool:
        """A chat of the bot simulator ("Try the bot"), not of a customer."""
        return self.channel.provider == "simulator"
