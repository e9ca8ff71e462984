"""Channels: their provider configuration (database first, the seed's environment as fallback)."""

from __future__ import annotations

import time

from django.conf import settings

from conversations.models import Channel, Provider
from conversations.providers import get_provider_class
from conversations.providers.base import ChannelConfig
from conversations.providers.base import Provider as ProviderImpl

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
    channel created on the first message; admins can rename it or add credentials later.
    """
    channel = Channel.objects.filter(provider=provider, external_id=external_id).first()
    if channel is not None:
        return channel
    name = f"WhatsApp {display_phone_number}".strip() if display_phone_number else f"{provider} {external_id}"
    channel, _created = Channel.objects.get_or_create(
        provider=provider,
        external_id=external_id,
        defaults={"name": name[:100], "display_phone_number": display_phone_number},
    )
    return channel


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
