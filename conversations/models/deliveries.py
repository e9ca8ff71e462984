from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliveryState(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    REJECTED = "rejected", _("Rejected (signature)")
    FAILED = "failed", _("Failed to parse")
    PARTIAL = "partial", _("Processed with unknown parts")
    RETRYING = "retrying", _("Waiting to be retried")


class WebhookDelivery(models.Model):
    """Every raw webhook delivery exactly as it arrived, kept even when it fails to parse."""

    provider = models.CharField(_("provider"), max_length=20, db_index=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    body = models.BinaryField(_("raw body"))
    signature_ok = models.BooleanField(_("signature ok"), null=True)
    state = models.CharField(_("state"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.RECEIVED)
    error = models.TextField(_("error"), blank=True)
    events_count = models.PositiveIntegerField(_("events"), default=0)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    # A rejected POST keeps only the head of its body: these say what arrived, and from where.
    body_size = models.PositiveIntegerField(_("body size (bytes)"), default=0)
    client_address = models.CharField(_("client address"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [models.Index(fields=["state", "received_at"], name="delivery_state_received")]

    def __str__(self) -> str:
        return f"{self.provider} #{self.pk} · {self.get_state_display()}"

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")
