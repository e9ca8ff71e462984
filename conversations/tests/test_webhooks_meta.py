"""The Meta webhook over HTTP: handshake, signatures, raw storage first, 200 only after commit, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import load_fixture, load_fixture_bytes
from conversations.models import Channel, DeliveryState, WebhookDelivery
from conversations.services.ingest import delivery_process
from conversations.tests.conftest import VERIFY, sign

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/webhook", "/webhooks/meta/"])
def test_verification_handshake_echoes_the_challenge(client: Any, meta_settings: Any, path: str) -> None:
    response = client.get(path, {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


def test_verification_with_a_wrong_token_is_forbidden(client: Any, meta_settings: Any) -> None:
    response = client.get("/webhook", {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert response.status_code == 403


def test_verification_without_parameters_is_a_bad_request(client: Any, meta_settings: Any) -> None:
    assert client.get("/webhook").status_code == 400


def test_verification_accepts_a_channel_token(client: Any, meta_settings: Any) -> None:
    Channel.objects.create(name="Dos", provider="meta", external_id="2", verify_token="channel-token")
    response = client.get(
        "/webhook", {"hub.mode": "subscribe", "hub.verify_token": "channel-token", "hub.challenge": "x"}
    )
    assert response.status_code == 200


def test_signed_delivery_is_stored_raw_and_enqueued_after_commit(
    post_webhook: Any, django_capture_on_commit_callbacks: Any
) -> None:
    body = load_fixture_bytes("meta", "message__text")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_webhook(body)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body  # byte for byte, as Meta signed it
    assert delivery.signature_ok is True
    assert delivery.state == DeliveryState.RECEIVED
    assert delivery.headers["X-Hub-Signature-256"].startswith("sha256=")
    assert len(callbacks) == 1  # the parse task is enqueued only once the row is committed


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha1=abc", "garbage", sign(b"another body")],
    ids=["missing", "wrong", "sha1", "garbage", "other-body"],
)
def test_bad_signatures_are_rejected_and_logged(post_webhook: Any, signature: str | None) -> None:
    response = post_webhook(load_fixture_bytes("meta", "message__text"), signature=signature)
    assert response.status_code == 403
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.REJECTED
    assert delivery.signature_ok is False
    assert "signature" in delivery.error.lower()
    # A rejected delivery is kept but never processed.
    assert delivery_process(delivery_id=delivery.pk).state == DeliveryState.REJECTED


def test_a_channel_app_secret_also_signs(post_webhook: Any) -> None:
    Channel.objects.create(name="Otra app", provider="meta", external_id="555", app_secret="second-app-secret")
    body = load_fixture_bytes("meta", "message__text")
    assert post_webhook(body, signature=sign(body, "second-app-secret")).status_code == 200


def test_signature_check_can_be_switched_off_for_development(post_webhook: Any, settings: Any) -> None:
    settings.WEBHOOK_VERIFY_SIGNATURES = False
    response = post_webhook(load_fixture_bytes("meta", "message__text"), signature=None)
    assert response.status_code == 200
    assert WebhookDelivery.objects.get().signature_ok is None


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'"just a string"'])
def test_malformed_bodies_are_kept_and_marked_never_a_500(post_webhook: Any, body: bytes) -> None:
    response = post_webhook(body)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body
    processed = delivery_process(delivery_id=delivery.pk)
    assert processed.state == DeliveryState.FAILED
    assert processed.error  # a reason a person can read


@pytest.mark.parametrize("path", ["/webhook", "/webhooks/meta/"])
def test_a_body_over_the_upload_limit_is_413_and_its_head_kept_as_rejected(
    post_webhook: Any, settings: Any, path: str
) -> None:
    settings.WEBHOOK_REJECTED_KEEP_BYTES = 300
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    body = b'{"object": "whatsapp_business_account", "entry": [' + b" " * 2000 + b"]}"
    response = post_webhook(body, path=path)
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request body too large: {len(body)} bytes; the limit is 1000."}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.signature_ok, bytes(delivery.body)) == (DeliveryState.REJECTED, None, body[:300])
    assert f"{len(body)} bytes" in delivery.error and "the first 300 kept" in delivery.error
    assert (delivery.body_size, delivery.client_address) == (len(body), "127.0.0.1")
    assert delivery.headers["X-Hub-Signature-256"] == sign(body)
    assert delivery_process(delivery_id=delivery.pk).state == DeliveryState.REJECTED


def test_unknown_provider_is_404(client: Any, meta_settings: Any) -> None:
    assert client.post("/webhooks/telegram/", data=b"{}", content_type="application/json").status_code == 404


def test_webhook_needs_no_csrf_token_but_keeps_it_for_the_rest(client: Any, meta_settings: Any) -> None:
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    response = strict.post("/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body))
    assert response.status_code == 200
    assert strict.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 403


def test_a_rejected_post_keeps_its_metadata_and_only_the_head_of_its_body(post_webhook: Any, settings: Any) -> None:
    settings.WEBHOOK_REJECTED_KEEP_BYTES = 100
    body = json.dumps({"object": "whatsapp_business_account", "entry": [], "pad": "x" * 50_000}).encode()
    response = post_webhook(body, signature="sha256=" + "0" * 64)
    assert response.status_code == 403
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.signature_ok) == (DeliveryState.REJECTED, False)
    assert bytes(delivery.body) == body[:100]  # not the 50 KB
    assert (delivery.body_size, delivery.client_address) == (len(body), "127.0.0.1")
    assert delivery.headers["X-Hub-Signature-256"] == "sha256=" + "0" * 64
    assert f"{len(body)} bytes from 127.0.0.1, the first 100 kept" in delivery.error


def test_rejected_posts_are_rate_limited_per_client_address(client: Any, meta_settings: Any, settings: Any) -> None:
    from conversations.services.webhook_guard import rejected_posts_dropped

    settings.WEBHOOK_REJECTED_PER_MINUTE = 3
    body = load_fixture_bytes("meta", "message__text")

    def post(address: str, signature: str) -> int:
        return client.post(
            "/webhooks/meta/",
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature,
            REMOTE_ADDR=address,
        ).status_code

    bad = "sha256=" + "0" * 64
    assert [post("203.0.113.5", bad) for _ in range(5)] == [403, 403, 403, 429, 429]
    assert post("198.51.100.9", bad) == 403  # another address has its own allowance
    assert post("203.0.113.5", sign(body)) == 200  # a signed delivery from a limited address still goes in
    rejected = WebhookDelivery.objects.filter(state=DeliveryState.REJECTED)
    assert sorted(rejected.values_list("client_address", flat=True)) == ["198.51.100.9"] + ["203.0.113.5"] * 3
    assert WebhookDelivery.objects.filter(state=DeliveryState.RECEIVED).count() == 1
    assert rejected_posts_dropped() == {"203.0.113.5": 2}  # not stored, but counted


def test_a_rejected_post_limit_window_is_per_minute(redis_client: Any, settings: Any) -> None:
    from conversations.services.webhook_guard import rejected_post_admit, rejected_posts_dropped

    settings.WEBHOOK_REJECTED_PER_MINUTE = 1
    minute = 1_800_000_000 - 1_800_000_000 % 60
    assert rejected_post_admit(client="192.0.2.1", now=minute + 1) is True
    assert rejected_post_admit(client="192.0.2.1", now=minute + 59) is False
    assert rejected_post_admit(client="192.0.2.1", now=minute + 60) is True  # the next minute
    assert rejected_posts_dropped(now=minute + 60) == {"192.0.2.1": 1}


def test_the_default_webhook_body_limit_fits_provider_payloads_not_ten_megabytes(post_webhook: Any) -> None:
    payload = load_fixture("meta", "message__text")
    payload["pad"] = "x" * (1_500_000)  # 1.5 MB, signed: still far more than any provider sends
    response = post_webhook(payload)
    assert response.status_code == 413
    assert bytes(WebhookDelivery.objects.get().body) == json.dumps(payload).encode()[:4096]


def test_the_delivery_admin_shows_how_many_rejected_posts_were_dropped(
    client: Any, meta_settings: Any, settings: Any
) -> None:
    from accounts.models import User

    settings.WEBHOOK_REJECTED_PER_MINUTE = 1
    for _ in range(4):
        client.post("/webhooks/meta/", data=b"{}", content_type="application/json", REMOTE_ADDR="203.0.113.5")
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    body = client.get("/admin/conversations/webhookdelivery/").content.decode()
    assert "3 rejected webhook POSTs were refused by the rate limit in the last 7 days and not stored" in body
    assert "203.0.113.5 (3)" in body
