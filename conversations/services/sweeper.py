"""Re-enqueue stuck work so a lost broker message or a killed worker loses nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from conversations.models import DeliveryState, Message, MessageStatus, ProcessingState, WebhookDelivery


@dataclass(frozen=True)
class SweepReport:
    deliveries: int
    inbound_conversations: int
    outbound_conversations: int


def sweep_stuck(*, now: timezone.datetime | None = None) -> SweepReport:
    """Find deliveries not parsed, inbound messages not processed and outbound messages not sent in time."""
    from conversations.tasks import conversation_flush_outbound_task, conversation_process_task, delivery_process_task

    now = now or timezone.now()
    inbound_before = now - timedelta(seconds=settings.SWEEP_INBOUND_AFTER)
    outbound_before = now - timedelta(seconds=settings.SWEEP_OUTBOUND_AFTER)

    # Received and never parsed, or waiting for a retry whose countdown task was lost.
    delivery_ids = list(
        WebhookDelivery.objects.filter(
            Q(state=DeliveryState.RECEIVED, received_at__lt=inbound_before)
            | Q(state=DeliveryState.RETRYING, next_attempt_at__lt=inbound_before)
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
    for delivery_id in delivery_ids:
        delivery_process_task.delay(delivery_id)

    # Pending and not waiting for a later retry (those have their own countdown task).
    inbound = set(
        Message.objects.filter(direction="in", processing_state=ProcessingState.PENDING, created_at__lt=inbound_before)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=inbound_before))
        .values_list("conversation_id", flat=True)[:1000]
    )
    for conversation_id in inbound:
        conversation_process_task.delay(conversation_id)

    # Queued and due (or never tried), or stuck "sending" (a worker died mid-call). A "sending" one
    # is queued again only after the longest a send can take plus a margin: if the provider took it,
    # its status webhook (carrying our id) has marked it sent by then, so it is not sent twice.
    sending_before = now - timedelta(seconds=settings.PROVIDER_HTTP_TIMEOUT * 2 + settings.SWEEP_SENDING_MARGIN)
    stuck_sending = Q(status=MessageStatus.SENDING, updated_at__lt=sending_before)
    outbound = set(
        Message.objects.filter(direction="out")
        .filter(
            Q(status=MessageStatus.QUEUED, next_attempt_at__isnull=True, updated_at__lt=outbound_before)
            | Q(status=MessageStatus.QUEUED, next_attempt_at__lt=now, updated_at__lt=outbound_before)
            | stuck_sending
        )
        .values_list("conversation_id", flat=True)[:1000]
    )
    if outbound:
        Message.objects.filter(stuck_sending, conversation_id__in=outbound, direction="out").update(
            status=MessageStatus.QUEUED
        )
    for conversation_id in outbound:
        conversation_flush_outbound_task.delay(conversation_id)
    return SweepReport(len(delivery_ids), len(inbound), len(outbound))


def media_refetch_due(*, now: timezone.datetime | None = None) -> int:
    """Fetch again the media whose download failed for a transient reason, while the provider keeps it.

    Messages in media state "retry", last tried MEDIA_REFETCH_AFTER_SECONDS ago or more, get a
    download task each; those older than MEDIA_REFETCH_MAX_AGE_HOURS are marked failed for good.
    Returns how many downloads were enqueued.
    """
    from conversations.models import MediaState
    from conversations.services.media import media_refetch_expire, media_refetch_window
    from conversations.tasks import message_media_refetch_task

    now = now or timezone.now()
    media_refetch_expire(now=now)
    received_after, tried_before = media_refetch_window(now=now)
    message_ids = list(
        Message.objects.filter(
            media_state=MediaState.RETRY, created_at__gte=received_after, updated_at__lt=tried_before
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:1000]
    )
    for message_id in message_ids:
        message_media_refetch_task.delay(message_id)
    return len(message_ids)
