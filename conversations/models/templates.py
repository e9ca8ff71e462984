from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class TemplateStatus(models.TextChoices):
    APPROVED = "APPROVED", _("Approved")
    PENDING = "PENDING", _("Pending review")
    REJECTED = "REJECTED", _("Rejected")
    PAUSED = "PAUSED", _("Paused")
    DISABLED = "DISABLED", _("Disabled")
    OTHER = "OTHER", _("Other")


class MessageTemplate(models.Model):
    """A message template of a channel's WhatsApp Business Account, as last synced from the provider.

    Outside the 24-hour window only approved templates may be sent. ``variables`` is derived
    from ``components`` at sync time: one entry per placeholder ({{1}} or {{name}}) per component.
    """

    channel = models.ForeignKey(
        "conversations.Channel", on_delete=models.CASCADE, related_name="templates", verbose_name=_("channel")
    )
    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language"), max_length=20)
    category = models.CharField(_("category"), max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=TemplateStatus.choices)
    provider_template_id = models.CharField(_("provider template id"), max_length=100, blank=True)
    components = models.JSONField(_("components"), default=list, blank=True)
    variables = models.JSONField(_("variables"), default=list, blank=True)
    synced_at = models.DateTimeField(_("synced"))

    class Meta:
        ordering = ["name", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(fields=["channel", "name", "language"], name="uniq_template_channel_name_lang")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"
