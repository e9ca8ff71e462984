"""The lean ASGI route that serves webhook POSTs under Daphne: same answers as the DRF view."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator

from conftest import celery_settled, load_fixture_bytes, wait_for
from conversations import asgi as asgi_route
from conversations.models import DeliveryState, Message, WebhookDelivery
from conversations.tests.conftest import VERIFY, sign
from conversations.tests.test_processing import text_payload
from whatsapp_ia.asgi import application
from whatsapp_ia.demo import demo_flow_load

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


async def test_too_large_body_is_413_and_its_head_kept_as_rejected(meta_settings: Any, settings: Any) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    response = await _post("/webhook", b"x" * 1000, None)
    assert response["status"] == 413
    assert json.loads(response["body"]) == {"detail": "Request body too large: 1000 bytes; the limit is 100."}
    delivery = await WebhookDelivery.objects.aget()
    assert (delivery.state, bytes(delivery.body)) == (DeliveryState.REJECTED, b"x" * 1000)
    assert "1000 bytes" in delivery.error


async def test_a_body_streamed_in_chunks_past_the_limit_keeps_only_its_head(meta_settings: Any, settings: Any) -> None:
    settings.WEBHOOK_REJECTED_KEEP_BYTES = 250
    settings.WEBHOOK_MAX_BODY_BYTES = 200
    chunks = [bytes([65 + n]) * 100 for n in range(5)]  # AAAA... BBBB... 500 bytes in five messages
    communicator = HttpCommunicator(application, "POST", "/webhooks/meta/", headers=[(b"host", b"localhost")])
    await communicator.send_input({"type": "http.request", "body": chunks[0], "more_body": True})
    for n, chunk in enumerate(chunks[1:], start=1):
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": n < 4})
    start = await communicator.receive_output(timeout=10)
    assert start["status"] == 413
    delivery = await WebhookDelivery.objects.aget()
    assert bytes(delivery.body) == b"".join(chunks)[:250]
    assert "500 bytes" in delivery.error


async def test_a_body_in_chunks_within_the_limit_is_stored_whole(meta_settings: Any) -> None:
    body = load_fixture_bytes("meta", "message__text")
    headers = [(b"host", b"localhost"), (b"x-hub-signature-256", sign(body).encode())]
    communicator = HttpCommunicator(application, "POST", "/webhook", headers=headers)
    await communicator.send_input({"type": "http.request", "body": body[:50], "more_body": True})
    await communicator.send_input({"type": "http.request", "body": body[50:], "more_body": False})
    assert (await communicator.receive_output(timeout=10))["status"] == 200
    assert bytes((await WebhookDelivery.objects.aget()).body) == body


async def test_get_handshake_and_other_paths_still_go_through_django(meta_settings: Any) -> None:
    query = f"hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=42".encode()
    communicator = HttpCommunicator(application, "GET", "/webhook?" + query.decode(), headers=[(b"host", b"localhost")])
    response = await communicator.get_response(timeout=10)
    assert (response["status"], response["body"]) == (200, b"42")
    login = await HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"localhost")]
    ).get_response(timeout=10)
    assert login["status"] == 200


async def test_the_same_delivery_posted_concurrently_through_the_route_gives_one_message_and_one_reply(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any, redis_client: Any
) -> None:
    await sync_to_async(demo_flow_load)()
    body = json.dumps(text_payload("hola", n=11)).encode()
    # Twenty copies at once: the writer stores them in a batch or two, every one answered 200.
    responses = await asyncio.gather(*(_post("/webhooks/meta/", body, sign(body)) for _ in range(20)))
    assert [r["status"] for r in responses] == [200] * 20
    assert await WebhookDelivery.objects.acount() == 20

    def settled() -> bool:
        return WebhookDelivery.objects.filter(state="processed").count() == 20

    await sync_to_async(wait_for)(settled, timeout=30)
    await sync_to_async(fake_graph.wait_for_sent)(1, timeout=15)
    await sync_to_async(celery_settled)(redis_client)  # a (wrong) second reply would be out by now
    assert await Message.objects.filter(direction="in").acount() == 1
    assert await Message.objects.filter(direction="out").acount() == 1
    assert len(fake_graph.sent) == 1


class RecordingWriter(asgi_route.DeliveryWriter):
    """The real writer, noting every POST that reaches its queue's INSERTs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stored: list[bytes] = []

    def _store(self, posts: list[Any]) -> list[Any]:
        self.stored += [post.body for post in posts]
        return super()._store(posts)


@pytest.fixture
def recording_route() -> Any:
    from whatsapp_ia.asgi import django_asgi_app

    writer = RecordingWriter()
    yield asgi_route.WebhookRoute(django_asgi_app, writer=writer), writer
    writer.close()


def _communicator(app: Any, signature: str | None, *, client: str = "203.0.113.5") -> Any:
    from asgiref.testing import ApplicationCommunicator

    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    if signature is not None:
        headers.append((b"x-hub-signature-256", signature.encode()))
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/webhooks/meta/",
        "raw_path": b"/webhooks/meta/",
        "query_string": b"",
        "headers": headers,
        "client": [client, 51000],
    }
    return ApplicationCommunicator(app, scope)


async def _answer(communicator: Any, body: bytes) -> tuple[int, bytes]:
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(timeout=10)
    content = await communicator.receive_output(timeout=10)
    return start["status"], content["body"]


async def test_a_bad_signature_is_refused_before_the_writer_and_kept_small(
    meta_settings: Any, settings: Any, recording_route: Any
) -> None:
    route, writer = recording_route
    settings.WEBHOOK_REJECTED_KEEP_BYTES = 64
    body = load_fixture_bytes("meta", "message__text")
    status, _ = await _answer(_communicator(route, "sha256=" + "1" * 64), body)
    assert status == 403
    assert writer.stored == []  # never queued behind (or burdening) the real deliveries
    delivery = await WebhookDelivery.objects.aget()
    assert (delivery.state, delivery.signature_ok, bytes(delivery.body)) == (DeliveryState.REJECTED, False, body[:64])
    assert (delivery.body_size, delivery.client_address) == (len(body), "203.0.113.5")

    status, _ = await _answer(_communicator(route, sign(body)), body)
    assert status == 200
    assert writer.stored == [body]
    assert (await WebhookDelivery.objects.filter(state="received").aget()).client_address == "203.0.113.5"


async def test_rejected_posts_through_the_route_are_rate_limited_per_address(
    meta_settings: Any, settings: Any, recording_route: Any
) -> None:
    route, writer = recording_route
    settings.WEBHOOK_REJECTED_PER_MINUTE = 2
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    statuses = [(await _answer(_communicator(route, None), body))[0] for _ in range(4)]
    assert statuses == [403, 403, 429, 429]
    assert (await _answer(_communicator(route, None, client="198.51.100.9"), body))[0] == 403
    assert await WebhookDelivery.objects.acount() == 3
    assert writer.stored == []


async def test_a_body_that_stalls_gets_408_after_the_read_deadline_and_nothing_is_queued(
    meta_settings: Any, settings: Any, recording_route: Any
) -> None:
    route, writer = recording_route
    settings.WEBHOOK_READ_TIMEOUT = 0.2
    body = load_fixture_bytes("meta", "message__text")
    communicator = _communicator(route, sign(body))
    await communicator.send_input({"type": "http.request", "body": body[:40], "more_body": True})
    # ... and the rest never comes.
    start = await communicator.receive_output(timeout=10)
    assert start["status"] == 408
    assert json.loads((await communicator.receive_output(timeout=10))["body"]) == {
        "detail": "Request body not received in time."
    }
    assert writer.stored == []
    assert await WebhookDelivery.objects.acount() == 0


async def test_a_client_that_disconnects_mid_body_leaves_nothing(meta_settings: Any, recording_route: Any) -> None:
    route, writer = recording_route
    body = load_fixture_bytes("meta", "message__text")
    communicator = _communicator(route, sign(body))
    await communicator.send_input({"type": "http.request", "body": body[:40], "more_body": True})
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=10)
    assert writer.stored == []
    assert await WebhookDelivery.objects.acount() == 0
