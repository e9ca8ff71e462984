"""What the dashboard needs that the conversations do not keep: when each chat was resolved (closed)."""

from __future__ import annotations

from django.db import models
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
