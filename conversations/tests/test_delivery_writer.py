"""Group commit on the webhook path: the POSTs that arrive together are stored in one INSERT."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection

from conftest import load_fixture, wait_for_async
from conversations.asgi import DeliveryWriter, _resolve
from conversations.models import DeliveryState, WebhookDelivery
from conversations.services.ingest import RawDelivery, deliveries_record
from conversations.tests.conftest import sign
from conversations.webhooks import RECEIVED, WebhookAnswer, WebhookPost

pytestmark = pytest.mark.django_db(transaction=True)


def _post(n: int) -> WebhookPost:
    """A POST as the route queues it: its signature already checked."""
    payload = load_fixture("meta", "message__text")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = f"wamid.writer-{n}"
    body = json.dumps(payload).encode()
    return WebhookPost("meta", body, {"X-Hub-Signature-256": sign(body)}, True, "192.0.2.7")


class GatedWriter(DeliveryWriter):
    """Records each batch's size; holds the first batch until `gate` is set, so the rest queue up."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.sizes: list[int] = []
        self.fail_first = False

    def _store(self, posts: list[WebhookPost]) -> list[WebhookAnswer]:
        self.sizes.append(len(posts))
        if len(self.sizes) == 1:
            self.gate.wait(10)
            if self.fail_first:
                raise OperationalError("server has gone away")
        return super()._store(posts)


@pytest.fixture
def gated_writer() -> Any:
    writer = GatedWriter(max_batch=50)
    yield writer
    writer.gate.set()
    writer.close()


async def test_posts_queued_during_a_write_go_out_together_in_order(meta_settings: Any, gated_writer: Any) -> None:
    first = asyncio.ensure_future(gated_writer.receive(_post(0)))
    await wait_for_async(lambda: gated_writer.sizes == [1])
    posts = [_post(n) for n in range(1, 31)]
    rest = [asyncio.ensure_future(gated_writer.receive(p)) for p in posts]
    await wait_for_async(lambda: gated_writer._queue.qsize() == 30)  # all queued behind the first
    gated_writer.gate.set()

    answers = await asyncio.gather(first, *rest)

    assert gated_writer.sizes == [1, 30]  # one INSERT for everything that queued behind the first
    assert answers == [RECEIVED] * 31
    stored = [d async for d in WebhookDelivery.objects.order_by("id")]
    assert [bytes(d.body) for d in stored] == [_post(0).body] + [p.body for p in posts]
    assert {(d.state, d.signature_ok, d.client_address) for d in stored} == {
        (DeliveryState.RECEIVED, True, "192.0.2.7")
    }


async def test_the_batch_size_is_capped_by_count_and_by_bytes(meta_settings: Any) -> None:
    writer = GatedWriter(max_batch=4, max_bytes=3 * len(_post(0).body))
    try:
        first = asyncio.ensure_future(writer.receive(_post(0)))
        await wait_for_async(lambda: writer.sizes == [1])
        rest = [asyncio.ensure_future(writer.receive(_post(n))) for n in range(1, 8)]
        await wait_for_async(lambda: writer._queue.qsize() == 7)
        writer.gate.set()
        answers = await asyncio.gather(first, *rest)
    finally:
        writer.gate.set()
        writer.close()
    assert {a.status for a in answers} == {200}
    assert writer.sizes == [1, 3, 3, 1]  # bytes reached first (3 bodies), count cap 4 never
    assert await WebhookDelivery.objects.acount() == 8


async def test_a_database_error_answers_503_to_that_batch_and_the_writer_goes_on(
    meta_settings: Any, gated_writer: Any
) -> None:
    gated_writer.fail_first = True
    first = asyncio.ensure_future(gated_writer.receive(_post(0)))
    await wait_for_async(lambda: gated_writer.sizes == [1])
    gated_writer.gate.set()
    assert (await first).status == 503
    assert await WebhookDelivery.objects.acount() == 0  # nothing stored, so the provider's retry is the copy

    again = await gated_writer.receive(_post(0))
    assert again == RECEIVED
    assert await WebhookDelivery.objects.acount() == 1


async def test_close_writes_what_is_queued_then_stops(meta_settings: Any) -> None:
    writer = GatedWriter()
    first = asyncio.ensure_future(writer.receive(_post(0)))
    await wait_for_async(lambda: writer.sizes == [1])
    second = asyncio.ensure_future(writer.receive(_post(1)))
    await wait_for_async(lambda: writer._queue.qsize() == 1)
    closing = threading.Thread(target=writer.close)
    closing.start()
    writer.gate.set()
    assert [a.status for a in await asyncio.gather(first, second)] == [200, 200]
    await sync_to_async(closing.join)(10)
    assert writer._thread is None
    assert await WebhookDelivery.objects.acount() == 2


async def test_an_answer_for_a_request_that_went_away_is_dropped() -> None:
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[WebhookAnswer] = loop.create_future()
    waiting: asyncio.Future[WebhookAnswer] = loop.create_future()
    gone.cancel()
    _resolve([(gone, RECEIVED), (waiting, RECEIVED)])
    assert gone.cancelled()
    assert waiting.result() == RECEIVED


def test_deliveries_record_kicks_the_lanes_of_accepted_rows_only(redis_client: Any, settings: Any) -> None:
    settings.DELIVERY_LANES = 4
    redis_client.flushdb()
    raws = [RawDelivery("meta", _post(n).body, {}, ok) for n, ok in enumerate((True, True, False, None))]
    created = deliveries_record(raws)

    assert [d.pk is not None for d in created] == [connection.features.can_return_rows_from_bulk_insert] * 4
    stored = list(WebhookDelivery.objects.order_by("id"))
    assert [d.state for d in stored] == ["received", "received", "rejected", "received"]
    assert stored[2].error == "Missing or invalid signature"
    lanes = {d.pk % 4 for d in stored if d.state == DeliveryState.RECEIVED}
    if not connection.features.can_return_rows_from_bulk_insert:
        lanes = {0, 1, 2, 3}
    assert {int(k.decode().rsplit(":", 1)[1]) for k in redis_client.keys("wia:deliveries:kick:*")} == lanes
    assert redis_client.llen("celery") == len(lanes)  # one drain task per lane for the whole batch
    assert deliveries_record([]) == []
    redis_client.flushdb()


def test_without_returned_ids_every_lane_is_kicked(redis_client: Any, settings: Any, monkeypatch: Any) -> None:
    # MySQL cannot return ids from a multi-row INSERT; the drains of every lane are kicked then.
    name = "can_return_rows_from_bulk_insert"
    monkeypatch.delitem(connection.features.__dict__, name, raising=False)  # a cached value (MySQL backend)
    monkeypatch.setattr(type(connection.features), name, False)
    settings.DELIVERY_LANES = 3
    redis_client.flushdb()
    created = deliveries_record([RawDelivery("meta", _post(n).body, {}, True) for n in range(2)])
    assert [d.pk for d in created] == [None, None]
    assert WebhookDelivery.objects.count() == 2
    assert redis_client.llen("celery") == 3
    redis_client.flushdb()


class DyingWriter(DeliveryWriter):
    """Its thread dies (SystemExit from inside the store call) on the first batch, as a fatal error would."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls = 0

    def _store(self, posts: list[WebhookPost]) -> list[WebhookAnswer]:
        self.calls += 1
        if self.calls == 1:
            raise SystemExit("killed by the test")
        return super()._store(posts)


def _healthz() -> tuple[int, dict]:
    from django.test import Client

    response = Client().get("/healthz")
    return response.status_code, response.json()


async def test_a_dead_writer_thread_is_reported_then_restarted_by_the_next_post(meta_settings: Any) -> None:
    writer = DyingWriter(wait=30)
    try:
        # The POST in flight when the thread died is answered 503 (not left hanging).
        first = await asyncio.wait_for(writer.receive(_post(0)), 15)
        assert first.status == 503
        await wait_for_async(lambda: not writer._thread.is_alive())
        assert "dead" in (writer.problem() or "")
        status, payload = await sync_to_async(_healthz)()
        assert status == 503
        assert "webhook writer thread is dead (SystemExit: killed by the test)" in payload["problems"]["webhook_writer"]

        second = await asyncio.wait_for(writer.receive(_post(1)), 15)
        assert second == RECEIVED
        assert writer.restarts == 1
        assert writer.problem() is None
        assert await sync_to_async(_healthz)() == (200, {"status": "ok"})
        assert [bytes(d.body) async for d in WebhookDelivery.objects.all()] == [_post(1).body]
    finally:
        writer.close()


async def test_a_post_waits_at_most_writer_wait_then_gets_503(meta_settings: Any, gated_writer: Any) -> None:
    gated_writer.wait = 0.2  # the writer is stuck on its first batch until the gate opens
    first = asyncio.ensure_future(gated_writer.receive(_post(0)))
    await wait_for_async(lambda: gated_writer.sizes == [1])
    second = asyncio.ensure_future(gated_writer.receive(_post(1)))
    assert [a.status for a in await asyncio.gather(first, second)] == [503, 503]
    assert "stuck on one batch" in (gated_writer.problem(now=gated_writer._busy_since + 5) or "")

    gated_writer.gate.set()
    assert await gated_writer.receive(_post(2)) == RECEIVED
    # The first POST was already being written when its wait ran out (its retry will be a
    # duplicate delivery, harmless: messages are unique); the second was skipped, not stored.
    bodies = [bytes(d.body) async for d in WebhookDelivery.objects.order_by("id")]
    assert bodies == [_post(0).body, _post(2).body]


async def test_healthz_is_200_with_a_healthy_writer(meta_settings: Any) -> None:
    writer = DeliveryWriter()
    try:
        assert await writer.receive(_post(0)) == RECEIVED
        assert await sync_to_async(_healthz)() == (200, {"status": "ok"})
    finally:
        writer.close()
