"""Keep per-process caches honest when channels change."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from conversations.models import Channel
from conversations.services.channels import channels_cache_clear, webhook_secrets_clear


@receiver([post_save, post_delete], sender=Channel)
def _channel_changed(**_: object) -> None:
    webhook_secrets_clear()
    channels_cache_clear()
