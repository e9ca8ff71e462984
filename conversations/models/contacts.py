from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Contact(models.Model):
    """A customer as a provider knows them (wa_id, Instagram scoped id, ...)."""

    provider = models.CharField(_("provider"), max_length=20)
    external_id = models.CharField(_("external id"), max_length=100, help_text=_("wa_id, IGSID, PSID, ..."))
    profile_name = models.CharField(_("profile name"), max_length=200, blank=True)
    alias = models.CharField(_("alias"), max_length=200, blank=True, help_text=_("A friendly name set by agents."))
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    referral = models.JSONField(_("ad referral"), default=dict, blank=True, help_text=_("Click-to-WhatsApp ad data."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [models.UniqueConstraint(fields=["provider", "external_id"], name="uniq_contact_provider_ext")]

    def __str__(self) -> str:
        return self.alias or self.profile_name or self.external_id

    @property
    def display_name(self) -> str:
        return str(self)
