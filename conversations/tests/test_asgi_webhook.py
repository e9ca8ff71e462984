"""The lean ASGI route that serves webhook POSTs under Daphne: same answers as the DRF view."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import HttpCommunicator

from conftest import load_fixture_bytes
from conversations.models import DeliveryState, WebhookDelivery
from conversations.tests.conftest import VERIFY, sign
from whatsapp_ia.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def _post(path: str, body: bytes, signature: str | None) -> dict[str, Any]:
    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    if signature is not None:
        headers.append((b"x-hub-signature-256", signature.encode()))
    return await HttpCommunicator(application, "POST", path, body=body, headers=headers).get_response(timeout=10)


@pytest.mark.parametrize("path", ["/webhook", "/webhooks/meta/"])
async def test_signed_post_is_stored_and_answered_200(meta_settings: Any, path: str) -> None:
    body = load_fixture_bytes("meta", "message__text")
    response = await _post(path, body, sign(body))
    assert response["status"] == 200
    assert response["body"] == b'{"status": "received"}'
    delivery = await WebhookDelivery.objects.aget()
    assert bytes(delivery.body) == body
    assert delivery.signature_ok is True
    assert delivery.headers["X-Hub-Signature-256"] == sign(body)


async def test_bad_signature_is_403_and_kept_as_rejected(meta_settings: Any) -> None:
    body = load_fixture_bytes("meta", "message__text")
    response = await _post("/webhook", body, "sha256=" + "1" * 64)
    assert response["status"] == 403
    delivery = await WebhookDelivery.objects.aget()
    assert delivery.state == DeliveryState.REJECTED


async def test_unknown_provider_is_404(meta_settings: Any) -> None:
    assert (await _post("/webhooks/nope/", b"{}", None))["status"] == 404


async def test_too_large_body_is_413(meta_settings: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = await _post("/webhook", b"x" * 1000, None)
    assert response["status"] == 413
    assert await WebhookDelivery.objects.acount() == 0


async def test_get_handshake_and_other_paths_still_go_through_django(meta_settings: Any) -> None:
    query = f"hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=42".encode()
    communicator = HttpCommunicator(application, "GET", "/webhook?" + query.decode(), headers=[(b"host", b"localhost")])
    response = await communicator.get_response(timeout=10)
    assert (response["status"], response["body"]) == (200, b"42")
    login = await HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"localhost")]
    ).get_response(timeout=10)
    assert login["status"] == 200
