"""Settings of voice-note transcription and image description that admins edit (a singleton row).

The AI settings page (catalog_ai) shows them in its "Images and voice notes" section; the
environment gives the defaults of a new installation.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

DEFAULT_VISION_PROMPT = (
    "Describe esta imagen para el asistente de una tienda que atiende clientes por WhatsApp. "
    "Di qué producto, documento o situación muestra, con marcas, medidas, colores, precios y "
    "cualquier texto legible (cópialo tal cual). Sé breve y concreto: dos a cuatro frases."
)


class EnrichmentSettings(models.Model):
    vision_prompt = models.TextField(
        _("image description prompt"),
        blank=True,
        help_text=_("The instructions the vision model gets for every customer image. Empty: the built-in prompt."),
    )
    visual_context_minutes = models.PositiveSmallIntegerField(
        _("visual context (minutes)"),
        default=5,
        help_text=_("The AI's answer reads the descriptions of the images sent this many minutes before."),
    )
    transcription_enabled = models.BooleanField(_("transcribe voice notes"), default=True)
    description_enabled = models.BooleanField(_("describe images"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("voice and image settings")
        verbose_name_plural = _("voice and image settings")

    def __str__(self) -> str:
        return str(_("voice and image settings"))

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = 1  # singleton
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> EnrichmentSettings:
        obj, _created = cls.objects.get_or_create(
            pk=1, defaults={"visual_context_minutes": settings.AI_VISION_CONTEXT_MINUTES}
        )
        return obj

    @property
    def effective_vision_prompt(self) -> str:
        return self.vision_prompt.strip() or settings.AI_VISION_PROMPT or DEFAULT_VISION_PROMPT
