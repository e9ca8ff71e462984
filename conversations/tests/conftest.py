"""Fixtures shared by the conversations tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from conversations.fakes.graph import FakeGraph


@pytest.fixture
def fake_graph(settings: Any) -> Iterator[FakeGraph]:
    """A running FakeGraph (token "TEST") with settings.META_GRAPH_URL pointing at it."""
    with FakeGraph(token="TEST") as graph:
        settings.META_GRAPH_URL = graph.base_url
        yield graph


APP_SECRET = "test-app-secret"
VERIFY = "verify-me"
PHONE_NUMBER_ID = "106540352242922"


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def laura_conversation(**fields: Any) -> Any:
    """Laura's conversation on the "Ventas" number, with any other fields given."""
    from conversations.models import Channel, Contact, Conversation

    channel = Channel.objects.create(name="Ventas", provider="meta", external_id=PHONE_NUMBER_ID)
    contact = Contact.objects.create(provider="meta", external_id="573001112233", profile_name="Laura")
    return Conversation.objects.create(contact=contact, channel=channel, step="inicio", **fields)


@pytest.fixture
def conversation() -> Any:
    """Laura's conversation on the "Ventas" number (modules with other needs define their own)."""
    return laura_conversation()


@pytest.fixture
def open_conversation(meta_settings: Any, fake_graph: Any) -> Any:
    """Laura's conversation ready for replies: Meta configured, the fake Graph up, the 24-hour window open."""
    from django.utils import timezone

    return laura_conversation(last_inbound_at=timezone.now() - timedelta(minutes=5))


@pytest.fixture
def meta_settings(settings: Any) -> Any:
    """The seed's single-number configuration from the environment, with fresh secret caches."""
    from conversations.services.channels import webhook_secrets_clear

    settings.META_APP_SECRET = APP_SECRET
    settings.VERIFY_TOKEN = VERIFY
    settings.META_TOKEN = "TEST"
    settings.PHONE_NUMBER_ID = PHONE_NUMBER_ID
    settings.WEBHOOK_VERIFY_SIGNATURES = True
    settings.SESSION_TIMEOUT = 1800
    settings.INITIAL_STEP = "inicio"
    webhook_secrets_clear()
    yield settings
    webhook_secrets_clear()


@pytest.fixture
def post_webhook(client: Any, meta_settings: Any) -> Any:
    """POST a raw body to the Meta webhook, signed unless told otherwise."""

    def post(body: bytes | dict, *, path: str = "/webhooks/meta/", signature: str | None = "auto") -> Any:
        import json

        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {}
        if signature == "auto":
            headers["HTTP_X_HUB_SIGNATURE_256"] = sign(raw)
        elif signature is not None:
            headers["HTTP_X_HUB_SIGNATURE_256"] = signature
        return client.post(path, data=raw, content_type="application/json", **headers)

    return post
