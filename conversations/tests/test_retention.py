"""Raw webhook deliveries are deleted after their retention age; unparsed ones and messages stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import load_fixture
from conversations.models import DeliveryState, Message, WebhookDelivery
from conversations.services.ingest import delivery_process, delivery_record
from conversations.services.retention import PurgeReport, deliveries_purge

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _delivery(state: str, *, days_old: float) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(provider="meta", body=b"{}", state=state)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=NOW - timedelta(days=days_old))
    return delivery


@pytest.fixture
def retention(settings: Any) -> Any:
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    settings.WEBHOOK_REJECTED_RETENTION_DAYS = 3
    return settings


def test_parsed_deliveries_are_kept_longer_than_rejected_ones(retention: Any) -> None:
    kept = [
        _delivery(DeliveryState.PROCESSED, days_old=29),
        _delivery(DeliveryState.FAILED, days_old=10),
        _delivery(DeliveryState.REJECTED, days_old=2.9),
        _delivery(DeliveryState.RECEIVED, days_old=400),  # not parsed yet: never deleted
    ]
    for state in (DeliveryState.PROCESSED, DeliveryState.PARTIAL, DeliveryState.FAILED):
        _delivery(state, days_old=31)
    for _ in range(4):
        _delivery(DeliveryState.REJECTED, days_old=3.1)

    report = deliveries_purge(now=NOW, batch=2)  # several small batches

    assert report == PurgeReport(parsed=3, rejected=4)
    assert sorted(WebhookDelivery.objects.values_list("pk", flat=True)) == sorted(d.pk for d in kept)
    assert deliveries_purge(now=NOW) == PurgeReport(parsed=0, rejected=0)


def test_a_run_deletes_at_most_batch_times_max_batches_rows(retention: Any) -> None:
    for _ in range(5):
        _delivery(DeliveryState.REJECTED, days_old=5)
    assert deliveries_purge(now=NOW, batch=2, max_batches=2) == PurgeReport(parsed=0, rejected=4)
    assert deliveries_purge(now=NOW, batch=2, max_batches=2) == PurgeReport(parsed=0, rejected=1)


def test_zero_days_keeps_them_forever(retention: Any) -> None:
    retention.WEBHOOK_REJECTED_RETENTION_DAYS = 0
    _delivery(DeliveryState.REJECTED, days_old=1000)
    assert deliveries_purge(now=NOW) == PurgeReport(parsed=0, rejected=0)
    assert WebhookDelivery.objects.count() == 1


def test_messages_stay_when_their_delivery_is_deleted(retention: Any, meta_settings: Any) -> None:
    body = json.dumps(load_fixture("meta", "message__text")).encode()
    delivery = delivery_record(provider="meta", body=body, headers={}, signature_ok=True)
    assert delivery_process(delivery_id=delivery.pk).state == DeliveryState.PROCESSED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=NOW - timedelta(days=31))

    assert deliveries_purge(now=NOW) == PurgeReport(parsed=1, rejected=0)
    message = Message.objects.get(direction="in")
    assert message.provider_message_id and message.raw  # the event's own copy is kept


def test_the_scheduler_runs_the_purge() -> None:
    from whatsapp_ia.celery import app

    app.finalize(auto=True)
    entry = app.conf.beat_schedule["delete expired webhook deliveries"]
    assert entry["task"] == "conversations.tasks.deliveries_purge_task"
    assert "conversations.tasks.deliveries_purge_task" in app.tasks
