"""Channels: their provider configuration (database first, the seed's environment as fallback)."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from conversations.models import Channel, Provider
from conversations.providers import get_provider_class
from conversations.providers.base import ChannelConfig
from conversations.providers.base import Provider as ProviderImpl

logger = logging.getLogger(__name__)

_SECRETS_TTL = 30.0
_secrets_cache: dict[str, tuple[float, tuple[str, ...]]] = {}


def channel_config(channel: Channel) -> ChannelConfig:
    """Plain, decrypted settings for a channel; empty Meta credentials fall back to META_* variables."""
    if channel.provider == Provider.META:
        return ChannelConfig(
            provider=channel.provider,
            external_id=channel.external_id,
            access_token=channel.access_token or settings.META_TOKEN,
            app_secret=channel.app_secret or settings.META_APP_SECRET,
            verify_token=channel.verify_token or settings.VERIFY_TOKEN,
            base_url=channel.base_url or settings.META_GRAPH_URL,
            api_version=settings.META_API_VERSION,
            display_phone_number=channel.display_phone_number,
        )
    return ChannelConfig(
        provider=channel.provider,
        external_id=channel.external_id,
        access_token=channel.access_token,
        app_secret=channel.app_secret,
        verify_token=channel.verify_token,
        base_url=channel.base_url or (settings.YCLOUD_API_URL if channel.provider == Provider.YCLOUD else ""),
        account_id=channel.account_id,
        display_phone_number=channel.display_phone_number,
    )


def provider_for(channel: Channel) -> ProviderImpl:
    return get_provider_class(channel.provider)(channel_config(channel))


def channel_for_inbound(*, provider: str, external_id: str, display_phone_number: str = "") -> Channel:
    """The channel a message was sent to; an unknown number gets a channel row so nothing is lost.

    Single-number setups configured only through PHONE_NUMBER_ID / META_TOKEN get their
    channel created on the first message. A number nobody configured gets one too (its
    messages are kept), marked `needs_setup` so the admin warns until someone adds its
    credentials: replies from it would fail meanwhile.
    """
    channel = Channel.objects.filter(provider=provider, external_id=external_id).first()
    if channel is not None:
        return channel
    name = f"WhatsApp {display_phone_number}".strip() if display_phone_number else f"{provider} {external_id}"
    needs_setup = not environment_covers(provider=provider, external_id=external_id)
    channel, created = Channel.objects.get_or_create(
        provider=provider,
        external_id=external_id,
        defaults={"name": name[:100], "display_phone_number": display_phone_number, "needs_setup": needs_setup},
    )
    if created and needs_setup:
        logger.warning(
            "Messages are arriving for %s number %s, which nobody configured: channel #%s created, replies"
            " will fail until its credentials are added in the admin",
            provider,
            external_id,
            channel.pk,
        )
    return channel


def environment_covers(*, provider: str, external_id: str) -> bool:
    """True when the seed's environment configures this number (META_TOKEN, and PHONE_NUMBER_ID if set)."""
    if provider != Provider.META or not settings.META_TOKEN:
        return False
    return not settings.PHONE_NUMBER_ID or external_id == settings.PHONE_NUMBER_ID


def channel_is_configured(channel: Channel) -> bool:
    """True when replies from the channel have credentials: its own token, or the environment's for its number."""
    return bool(channel.access_token) or environment_covers(provider=channel.provider, external_id=channel.external_id)


def channels_needing_setup(*, limit: int = 10) -> list[Channel]:
    """Active channels created for numbers nobody configured, oldest first (for the admin's warning)."""
    return list(Channel.objects.filter(needs_setup=True, is_active=True).order_by("pk")[:limit])


def webhook_secrets(*, provider: str) -> tuple[str, ...]:
    """Every secret a delivery for `provider` may be signed with (environment + active channels).

    Cached for a few seconds per process: the webhook path must not query the database for this.
    """
    now = time.monotonic()
    cached = _secrets_cache.get(provider)
    if cached and now - cached[0] < _SECRETS_TTL:
        return cached[1]
    secrets: list[str] = []
    if provider == Provider.META and settings.META_APP_SECRET:
        secrets.append(settings.META_APP_SECRET)
    for channel in Channel.objects.filter(provider=provider, is_active=True).only("app_secret"):
        if channel.app_secret and channel.app_secret not in secrets:
            secrets.append(channel.app_secret)
    result = tuple(secrets)
    _secrets_cache[provider] = (now, result)
    return result


def webhook_secrets_cached(*, provider: str) -> tuple[str, ...] | None:
    """The secrets while the cache is fresh, else None: then `webhook_secrets` (a query) refreshes it.

    For the event loop, which must not query the database itself.
    """
    cached = _secrets_cache.get(provider)
    if cached and time.monotonic() - cached[0] < _SECRETS_TTL:
        return cached[1]
    return None


def webhook_secrets_clear() -> None:
    _secrets_cache.clear()


def verify_tokens(*, provider: str) -> tuple[str, ...]:
    tokens = [settings.VERIFY_TOKEN] if provider == Provider.META and settings.VERIFY_TOKEN else []
    for channel in Channel.objects.filter(provider=provider, is_active=True).only("verify_token"):
        if channel.verify_token:
            tokens.append(channel.verify_token)
    return tuple(tokens)
