"""Raw webhook deliveries are kept for a while, then deleted (the messages they carried stay).

Parsed deliveries (processed, partial, failed) are kept WEBHOOK_DELIVERY_RETENTION_DAYS,
rejected ones WEBHOOK_REJECTED_RETENTION_DAYS; a delivery not parsed yet is never
deleted. Deletes go in small batches by primary key, each its own short statement, so
a big table is never locked for long. No row points at a delivery (messages keep their
own copy of the event), so deleting one loses nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from conversations.models import DeliveryState, WebhookDelivery

PARSED_STATES = (DeliveryState.PROCESSED, DeliveryState.PARTIAL, DeliveryState.FAILED)


@dataclass(frozen=True)
class PurgeReport:
    parsed: int
    rejected: int


def deliveries_purge(*, now: datetime | None = None, batch: int = 1000, max_batches: int = 100) -> PurgeReport:
    """Delete deliveries past their retention age; at most `batch * max_batches` rows per kind and run."""
    now = now or timezone.now()
    parsed = _purge(
        states=PARSED_STATES,
        days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS,
        now=now,
        batch=batch,
        max_batches=max_batches,
    )
    rejected = _purge(
        states=(DeliveryState.REJECTED,),
        days=settings.WEBHOOK_REJECTED_RETENTION_DAYS,
        now=now,
        batch=batch,
        max_batches=max_batches,
    )
    return PurgeReport(parsed=parsed, rejected=rejected)


def _purge(*, states: tuple[str, ...], days: int, now: datetime, batch: int, max_batches: int) -> int:
    if days <= 0:
        return 0  # kept forever
    before = now - timedelta(days=days)
    deleted = 0
    for _ in range(max_batches):
        # The (state, received_at) index finds them oldest first; then delete by primary key.
        ids = list(
            WebhookDelivery.objects.filter(state__in=states, received_at__lt=before)
            .order_by("received_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        deleted += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            break
    return deleted
