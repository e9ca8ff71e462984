"""What each provider class answers for: its handshake, service window, rate limits and channel defaults.

The generic code (webhook view, outbound delivery, channel configuration) asks the provider
class; these tests hold Meta to its documented behaviour and check that a provider without
those rules (the simulator) is not given Meta's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Channel, Contact, Conversation, Message
from conversations.providers import PROVIDERS
from conversations.providers.base import ChannelDefaults, OutboundMessage, Provider, RateLimits
from conversations.providers.meta import WINDOW_CLOSED, WINDOW_CLOSED_REASON, MetaProvider
from conversations.providers.simulator import SimulatorProvider
from conversations.services.channels import channel_config, environment_covers, verify_tokens, webhook_secrets_clear
from conversations.services.outbound import conversation_flush_outbound, message_queue_outbound

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEXT = OutboundMessage(kind="text", to="573001112233", text="Hola")
TEMPLATE = OutboundMessage(kind="template", to="573001112233", template_name="seguimiento")


# --------------------------------------------------------------------------- handshake


@pytest.mark.parametrize(
    ("params", "status", "body"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "ours", "hub.challenge": "1158201444"}, 200, "1158201444"),
        ({"hub.mode": "subscribe", "hub.verify_token": "theirs", "hub.challenge": "1"}, 403, None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "ours", "hub.challenge": "1"}, 403, None),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, 400, None),
        ({}, 400, None),
    ],
)
def test_meta_handshake_echoes_the_challenge_only_for_a_known_token(
    params: dict[str, str], status: int, body: str | None
) -> None:
    answer = MetaProvider.webhook_handshake(params=params, verify_tokens=("other", "ours"))
    assert answer.status == status
    if body is not None:
        assert answer.body == body


def test_meta_handshake_refuses_every_token_when_none_is_configured() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert MetaProvider.webhook_handshake(params=params, verify_tokens=()).status == 403


@pytest.mark.django_db
def test_a_provider_without_a_handshake_answers_405_on_its_webhook_url(settings: Any) -> None:
    settings.VERIFY_TOKEN = "ours"
    Channel.objects.create(name="Sim", provider="simulator", external_id="sim-1", verify_token="ours")
    params = {"hub.mode": "subscribe", "hub.verify_token": "ours", "hub.challenge": "1"}
    response = Client().get("/webhooks/simulator/", params)
    assert response.status_code == 405
    assert Client().get("/webhooks/meta/", params).content == b"1"


# --------------------------------------------------------------------------- service window


def test_meta_window_lets_free_form_messages_out_for_24_hours_after_the_customer_wrote() -> None:
    assert (
        MetaProvider.window_refusal(message=TEXT, last_inbound_at=NOW - timedelta(hours=23, minutes=59), now=NOW)
        is None
    )
    refusal = MetaProvider.window_refusal(message=TEXT, last_inbound_at=NOW - timedelta(hours=24), now=NOW)
    assert refusal is not None
    assert (refusal.code, refusal.message, refusal.transient) == (WINDOW_CLOSED, WINDOW_CLOSED_REASON, False)
    assert MetaProvider.window_refusal(message=TEXT, last_inbound_at=None, now=NOW) is not None


def test_meta_window_never_holds_back_a_template() -> None:
    assert MetaProvider.window_refusal(message=TEMPLATE, last_inbound_at=None, now=NOW) is None
    assert MetaProvider.window_refusal(message=TEMPLATE, last_inbound_at=NOW - timedelta(days=30), now=NOW) is None


def test_a_provider_without_a_window_lets_everything_out() -> None:
    # The base class's answer, for providers that have no customer-service window.
    assert Provider.service_window() is None
    assert Provider.window_refusal(message=TEXT, last_inbound_at=None, now=NOW) is None
    assert Provider.window_refusal(message=TEXT, last_inbound_at=NOW - timedelta(days=90), now=NOW) is None


def test_the_simulator_keeps_metas_window_so_it_refuses_what_whatsapp_would() -> None:
    refusal = SimulatorProvider.window_refusal(message=TEXT, last_inbound_at=NOW - timedelta(days=2), now=NOW)
    assert refusal is not None and refusal.code == WINDOW_CLOSED


# --------------------------------------------------------------------------- rate limits


def test_meta_rate_limits_are_the_outbound_settings_read_at_call_time(settings: Any) -> None:
    settings.OUTBOUND_RATE_PER_SECOND, settings.OUTBOUND_RATE_BURST = 40.0, 2.0
    settings.OUTBOUND_NUMBER_LIMIT_PER_SECOND = 42
    settings.OUTBOUND_PAIR_INTERVAL_SECONDS, settings.OUTBOUND_PAIR_BURST = 3.0, 4.0
    assert MetaProvider.rate_limits() == RateLimits(
        number_rate=40.0, number_burst=2.0, number_limit=42, pair_interval=3.0, pair_burst=4.0
    )


def test_the_simulator_is_not_paced_by_metas_limits() -> None:
    assert SimulatorProvider.rate_limits() == RateLimits()


@pytest.mark.django_db
def test_simulator_replies_are_not_held_back_by_metas_pair_limit(settings: Any, redis_client: Any) -> None:
    # Meta allows one message every 6 s to a customer after a burst; the simulator sends nothing anywhere.
    settings.OUTBOUND_PAIR_INTERVAL_SECONDS, settings.OUTBOUND_PAIR_BURST = 60.0, 1.0
    channel = Channel.objects.create(name="Sim", provider="simulator", external_id="sim-pacing")
    contact = Contact.objects.create(provider="simulator", external_id="5730000000", profile_name="Prueba")
    conversation = Conversation.objects.create(
        contact=contact, channel=channel, step="inicio", last_inbound_at=timezone.now()
    )
    for n in range(3):
        message_queue_outbound(conversation=conversation, outbound=OutboundMessage(kind="text", to="", text=f"R{n}"))
    result = conversation_flush_outbound(conversation_id=conversation.pk)
    assert (result.sent, result.retry_in) == (3, None)
    assert set(Message.objects.filter(conversation=conversation).values_list("status", flat=True)) == {"sent"}


# --------------------------------------------------------------------------- channel configuration


def test_every_registered_provider_answers_for_its_channels() -> None:
    for provider_cls in PROVIDERS.values():
        assert isinstance(provider_cls.channel_defaults(), ChannelDefaults)
        assert isinstance(provider_cls.rate_limits(), RateLimits)
        assert provider_cls.required_credentials


def test_meta_defaults_are_the_seeds_environment(settings: Any) -> None:
    settings.META_TOKEN, settings.PHONE_NUMBER_ID = "env-token", "1065"
    settings.META_APP_SECRET, settings.VERIFY_TOKEN = "env-secret", "env-verify"
    defaults = MetaProvider.channel_defaults()
    assert (defaults.access_token, defaults.external_id, defaults.app_secret, defaults.verify_token) == (
        "env-token",
        "1065",
        "env-secret",
        "env-verify",
    )
    assert defaults.base_url == settings.META_GRAPH_URL
    assert defaults.api_version == settings.META_API_VERSION


@pytest.mark.django_db
def test_channel_fields_win_over_the_environment_and_fill_from_it_when_empty(settings: Any) -> None:
    settings.META_TOKEN, settings.META_APP_SECRET = "env-token", "env-secret"
    own = Channel(name="Own", provider="meta", external_id="1", access_token="own-token")
    config = channel_config(own)
    assert (config.access_token, config.app_secret) == ("own-token", "env-secret")
    assert config.api_version == settings.META_API_VERSION


@pytest.mark.django_db
def test_the_environment_configures_no_simulator_or_unregistered_channel(settings: Any) -> None:
    settings.META_TOKEN, settings.PHONE_NUMBER_ID, settings.VERIFY_TOKEN = "env-token", "", "env-verify"
    webhook_secrets_clear()
    assert environment_covers(provider="meta", external_id="any")
    assert not environment_covers(provider="simulator", external_id="any")
    assert not environment_covers(provider="ycloud", external_id="any")  # no provider class yet: nothing
    sim = channel_config(Channel(name="Sim", provider="simulator", external_id="s"))
    assert (sim.access_token, sim.verify_token, sim.base_url) == ("", "", "")
    assert verify_tokens(provider="meta") == ("env-verify",)
    assert verify_tokens(provider="simulator") == ()
