from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from whatsapp_ia.crypto import EncryptedTextField


class Provider(models.TextChoices):
    META = "meta", "Meta WhatsApp Cloud API"
    YCLOUD = "ycloud", "YCloud (WhatsApp)"
    CHATWOOT = "chatwoot", "Chatwoot (Instagram / Facebook)"
    SIMULATOR = "simulator", _("Simulator (replies captured, never sent)")


class Channel(models.Model):
    """An inbox: one Meta business number, one YCloud number or one Chatwoot inbox.

    Credentials are encrypted at rest; empty ones fall back to the seed's
    environment variables (META_TOKEN, VERIFY_TOKEN, META_APP_SECRET).
    """

    name = models.CharField(_("name"), max_length=100)
    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices, default=Provider.META)
    external_id = models.CharField(
        _("external id"),
        max_length=100,
        help_text=_("Meta: phone_number_id. YCloud: the business number (E.164). Chatwoot: the inbox id."),
    )
    display_phone_number = models.CharField(_("display phone number"), max_length=40, blank=True)
    business_account_id = models.CharField(_("business account id (WABA)"), max_length=100, blank=True)
    base_url = models.URLField(_("base URL"), blank=True, help_text=_("Chatwoot: your Chatwoot server's URL."))
    account_id = models.CharField(_("account id"), max_length=50, blank=True, help_text=_("Chatwoot account id."))
    access_token = EncryptedTextField(
        _("access token / API key"),
        blank=True,
        help_text=_("Meta: the access token. YCloud: the API key. Chatwoot: an agent bot's or user's access token."),
    )
    app_secret = EncryptedTextField(
        _("app secret / webhook secret"),
        blank=True,
        help_text=_(
            "Meta: the app secret. YCloud: the webhook endpoint's secret (whsec_…). Chatwoot: the webhook's"
            " signing secret, if your Chatwoot signs webhooks."
        ),
    )
    verify_token = EncryptedTextField(
        _("verify token"),
        blank=True,
        help_text=_(
            "Meta: the token typed in the webhook settings. Chatwoot: the token at the end of the webhook URL"
            " (?token=…)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    needs_setup = models.BooleanField(
        _("needs setup"),
        default=False,
        help_text=_(
            "Created automatically when messages arrived for a number nobody configured: its messages are"
            " stored, but replies fail until its credentials are added. Cleared when an access token is saved."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        constraints = [models.UniqueConstraint(fields=["provider", "external_id"], name="uniq_channel_provider_ext")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"
