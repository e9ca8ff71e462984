"""The provider registry: `Channel.provider` value -> Provider class.

The generic code asks the class for everything provider-specific: parsing, signatures, the
webhook handshake, the service window, rate limits and the environment's channel defaults
(see base.Provider). HTTP helpers shared by the providers: http.py.

There is no default provider, so an unknown name fails loudly.
"""

from __future__ import annotations

from conversations.providers.base import Provider
from conversations.providers.chatwoot import ChatwootProvider
from conversations.providers.meta import MetaProvider
from conversations.providers.simulator import SimulatorProvider
from conversations.providers.ycloud import YCloudProvider

PROVIDERS: dict[str, type[Provider]] = {
    MetaProvider.name: MetaProvider,
    SimulatorProvider.name: SimulatorProvider,
    YCloudProvider.name: YCloudProvider,
    ChatwootProvider.name: ChatwootProvider,
}


def provider_platform(name: str) -> str:
    """Where a provider's customers write from unless an event says otherwise; '' for an unknown provider."""
    provider_cls = PROVIDERS.get(name)
    return provider_cls.platform if provider_cls is not None else ""


def get_provider_class(name: str) -> type[Provider]:
    """The Provider class registered as `name`; KeyError (naming the known ones) otherwise."""
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise KeyError(f"unknown provider {name!r}; known providers: {known}") from None
