"""Channels: their provider configuration (database first, the provider's environment defaults as fallback).

Nothing here knows a provider by name: each provider class says what the environment supplies
(`Provider.channel_defaults`) and which credentials a channel needs (`required_credentials`).
"""

from __future__ import annotations

import logging
import time

from conversations.models import Channel
from conversations.providers import PROVIDERS, get_provider_class
from conversations.providers.base import ChannelConfig, ChannelDefaults, WebhookKey
from conversations.providers.base import Provider as ProviderImpl

logger = logging.getLogger(__name__)

_SECRETS_TTL = 30.0
_secrets_cache: dict[str, tuple[float, tuple[WebhookKey, ...]]] = {}
# Every inbound message names its channel: kept per process for a few seconds (and dropped when
# a channel is saved in this process) instead of one query per message. Another process's change
# of a channel's credentials reaches the pipeline within _CHANNEL_TTL.
_CHANNEL_TTL = 10.0
_inbound_cache: dict[tuple[str, str], tuple[float, Channel]] = {}


def channels_cache_clear() -> None:
    """Forget the channels this process keeps (a channel changed; tests)."""
    _inbound_cache.clear()


def provider_defaults(provider: str) -> ChannelDefaults:
    """What the environment supplies for `provider`'s channels; nothing for a provider not registered (yet)."""
    provider_cls = PROVIDERS.get(provider)
    return provider_cls.channel_defaults() if provider_cls is not None else ChannelDefaults()


def channel_config(channel: Channel) -> ChannelConfig:
    """Plain, decrypted settings for a channel; its empty fields fall back to the provider's environment defaults."""
    defaults = provider_defaults(channel.provider)
    return ChannelConfig(
        provider=channel.provider,
        external_id=channel.external_id,
        access_token=channel.access_token or defaults.access_token,
        app_secret=channel.app_secret or defaults.app_secret,
        verify_token=channel.verify_token or defaults.verify_token,
        base_url=channel.base_url or defaults.base_url,
        api_version=defaults.api_version,
        account_id=channel.account_id or defaults.account_id,
        display_phone_number=channel.display_phone_number,
        business_account_id=channel.business_account_id,
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
    key = (provider, external_id)
    cached = _inbound_cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    channel = Channel.objects.filter(provider=provider, external_id=external_id).first()
    if channel is not None:
        _inbound_cache[key] = (time.monotonic() + _CHANNEL_TTL, channel)
        return channel
    label = {"meta": "Meta", "ycloud": "YCloud", "chatwoot": "Chatwoot"}.get(provider, provider)
    name = f"WhatsApp {display_phone_number}".strip() if display_phone_number else f"{label} {external_id}"
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
    """True when the environment configures this number (Meta: META_TOKEN, and PHONE_NUMBER_ID if set)."""
    defaults = provider_defaults(provider)
    if not defaults.access_token:
        return False
    return not defaults.external_id or external_id == defaults.external_id


def channel_is_configured(channel: Channel) -> bool:
    """True when replies from the channel have credentials: its own, or the environment's for its number."""
    provider_cls = PROVIDERS.get(channel.provider)
    required = provider_cls.required_credentials if provider_cls is not None else ("access_token",)
    own = all(getattr(channel, name, "") for name in required)
    return own or environment_covers(provider=channel.provider, external_id=channel.external_id)


def channel_problems(channel: Channel) -> list[str]:
    """What keeps the channel from working (its settings merged with the environment's), in words; [] when ready."""
    return get_provider_class(channel.provider).config_problems(channel_config(channel))


def external_id_problem(*, provider: str, external_id: str) -> str:
    """Why `external_id` cannot identify a channel of `provider` (e.g. a YCloud number not in E.164); '' when it can."""
    provider_cls = PROVIDERS.get(provider)
    return provider_cls.external_id_problem(external_id) if provider_cls is not None else ""


def channel_webhook_path(channel: Channel) -> str:
    """The path the provider must post this channel's webhooks to (with the URL token for Chatwoot)."""
    return get_provider_class(channel.provider).webhook_path()


def channels_needing_setup(*, limit: int = 10) -> list[Channel]:
    """Active channels created for numbers nobody configured, oldest first (for the admin's warning)."""
    return list(Channel.objects.filter(needs_setup=True, is_active=True).order_by("pk")[:limit])


def webhook_secrets(*, provider: str) -> tuple[WebhookKey, ...]:
    """Every key a delivery for `provider` may be authenticated with (environment + active channels).

    A key is a channel's (app_secret, verify_token): the signing secret, and the token a provider
    may put in the webhook URL (Chatwoot). Cached for a few seconds per process: the webhook path
    must not query the database for this.
    """
    now = time.monotonic()
    cached = _secrets_cache.get(provider)
    if cached and now - cached[0] < _SECRETS_TTL:
        return cached[1]
    keys: list[WebhookKey] = []
    defaults = provider_defaults(provider)
    if defaults.app_secret or defaults.verify_token:
        keys.append(WebhookKey(defaults.app_secret, defaults.verify_token))
    for channel in Channel.objects.filter(provider=provider, is_active=True).only("app_secret", "verify_token"):
        key = WebhookKey(channel.app_secret or defaults.app_secret, channel.verify_token or defaults.verify_token)
        if (key.app_secret or key.verify_token) and key not in keys:
            keys.append(key)
    result = tuple(keys)
    _secrets_cache[provider] = (now, result)
    return result


def webhook_secrets_cached(*, provider: str) -> tuple[WebhookKey, ...] | None:
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
    env_token = provider_defaults(provider).verify_token
    tokens = [env_token] if env_token else []
    for channel in Channel.objects.filter(provider=provider, is_active=True).only("verify_token"):
        if channel.verify_token:
            tokens.append(channel.verify_token)
    return tuple(tokens)
