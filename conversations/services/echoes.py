"""The business side's own messages coming back in webhooks, and the provider's conversation states.

A provider that relays a whole inbox (Chatwoot) sends every message of it to our webhook:
the customer's, and also ours (the bot's and our agents' replies posted through its API), what its
own agents type in its app, what the business types in the Instagram or Messenger app, and private
notes. None of these is ever a customer message, so none is ever answered:

- our own reply is recognised by its provider message id (stored when the send returned), or, when
  the webhook outran the send's answer, as the reply of ours still being sent with the same text:
  that one gets the id now, so nothing is stored twice and nothing is sent twice;
- a message typed by a person outside our console is stored as an outbound message of the chat
  (the console shows what the customer was told) and the bot steps back: a human is answering;
- a private note is only counted in the delivery's log: it never reaches the customer.

`ThreadStatus` events (Chatwoot: conversation_status_changed) close or reopen our chat when an
agent resolves or reopens it in the provider's app.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import events
from conversations.models import Conversation, Message, MessageStatus
from conversations.models.messages import ProcessingState
from conversations.providers.base import (
    ECHO_AGENT,
    ECHO_NOTE,
    ECHO_PLATFORM,
    THREAD_OPEN,
    THREAD_RESOLVED,
    OutboundEcho,
    ThreadStatus,
)
from conversations.services.serialize import conversation_event_data, message_event_data
from conversations.services.sql import row_insert
from conversations.services.state import conversation_close, conversation_reopen, conversation_take_over

logger = logging.getLogger(__name__)

__all__ = ["ECHO_MATCH_WINDOW", "echo_apply", "thread_status_apply"]

# How far back a webhook's echo is matched by text against our replies still being sent.
ECHO_MATCH_WINDOW = timedelta(minutes=10)

# echo_apply's answers
OURS = "ours"  # our own reply, already known by its id
LINKED = "linked"  # our reply still being sent: it got its provider id from the echo
STORED = "stored"  # typed outside our console: stored as an outbound message
NOTE = "note"  # a private note: never sent, never answered
NO_CHAT = "no_chat"  # no conversation of ours for it (a chat that started outside the product)
WAIT = "wait"  # a reply of ours is still being sent: it may be this one; ask again once its send has answered


def _conversation(*, provider: str, channel_external_id: str, contact_external_id: str) -> Conversation | None:
    return (
        Conversation.objects.select_related("contact", "channel")
        .filter(
            channel__provider=provider,
            channel__external_id=channel_external_id,
            contact__provider=provider,
            contact__external_id=contact_external_id,
        )
        .first()
    )


def echo_apply(*, provider: str, event: OutboundEcho, final: bool = True) -> str:
    """Recognise one echo (see the module's docstring); never answers anything. Returns what was done.

    An echo that matches nothing while a reply of ours is still being sent (its text may differ: a
    provider renders buttons its own way) gets WAIT unless `final`: the delivery is parsed again a few
    seconds later, when the send has stored its id, so our own reply is never stored a second time.
    """
    if Message.objects.filter(provider=provider, provider_message_id=event.provider_message_id).exists():
        return OURS
    if event.origin == ECHO_NOTE:
        logger.info(
            "Private note %s in %s conversation %s ignored", event.provider_message_id, provider, event.thread_id
        )
        return NOTE
    conversation = _conversation(
        provider=provider, channel_external_id=event.channel_external_id, contact_external_id=event.contact_external_id
    )
    if conversation is None:
        return NO_CHAT
    with transaction.atomic():
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()  # one echo of a chat at a time
        pending = (
            Message.objects.select_for_update()
            .filter(
                conversation=conversation,
                direction="out",
                provider_message_id__isnull=True,
                status__in=(MessageStatus.QUEUED, MessageStatus.SENDING),
                created_at__gte=timezone.now() - ECHO_MATCH_WINDOW,
                text=event.text,
            )
            .order_by("pk")
            .first()
        )
        if pending is None and not final and _sending(conversation):
            return WAIT
        if pending is not None:
            pending.provider_message_id = event.provider_message_id
            fields = ["provider_message_id", "updated_at"]
            if pending.status == MessageStatus.SENDING:
                pending.status, pending.sent_at = MessageStatus.SENT, event.sent_at or timezone.now()
                pending.next_attempt_at = None
                fields += ["status", "sent_at", "next_attempt_at"]
            pending.save(update_fields=fields)
            events.broadcast_on_commit(
                groups=events.groups_for(conversation), name=events.MESSAGE_UPDATED, data=message_event_data(pending)
            )
            return LINKED
        return _store_outside_message(conversation, provider=provider, event=event)


def _sending(conversation: Conversation) -> bool:
    return Message.objects.filter(
        conversation=conversation,
        direction="out",
        provider_message_id__isnull=True,
        status__in=(MessageStatus.QUEUED, MessageStatus.SENDING),
        created_at__gte=timezone.now() - ECHO_MATCH_WINDOW,
    ).exists()


def _store_outside_message(conversation: Conversation, *, provider: str, event: OutboundEcho) -> str:
    now = timezone.now()
    message = Message(
        conversation=conversation,
        direction="out",
        kind="text",
        text=event.text,
        data={"echo": {"origin": event.origin, "sender": event.sender_name[:200], "sender_type": event.sender_type}},
        provider=provider,
        provider_message_id=event.provider_message_id,
        status=MessageStatus.SENT,
        sent_at=event.sent_at or now,
        processing_state=ProcessingState.DONE,
        raw=event.raw,
        provider_timestamp=event.sent_at,
    )
    try:
        with transaction.atomic():
            row_insert(message)
    except IntegrityError:  # the same echo, stored by a concurrent delivery
        return OURS
    preview = (event.text or "")[:200]
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=now, last_message_preview=preview)
    conversation.last_activity_at, conversation.last_message_preview = now, preview
    if event.origin in (ECHO_AGENT, ECHO_PLATFORM):
        conversation_take_over(conversation)  # a person is answering there: the bot keeps quiet
    events.broadcast_on_commit(
        groups=events.groups_for(conversation), name=events.MESSAGE_CREATED, data=message_event_data(message)
    )
    events.broadcast_on_commit(
        groups=events.groups_for(conversation),
        name=events.CONVERSATION_UPDATED,
        data=conversation_event_data(conversation),
    )
    return STORED


def thread_status_apply(*, provider: str, event: ThreadStatus) -> bool:
    """Resolved in the provider's app: our chat closes; reopened there: our chat reopens. False: no chat of ours."""
    conversation = _conversation(
        provider=provider, channel_external_id=event.channel_external_id, contact_external_id=event.contact_external_id
    )
    if conversation is None:
        return False
    if event.thread_id and conversation.provider_thread_id and event.thread_id != conversation.provider_thread_id:
        return True  # an older conversation of the same customer in the provider's app: ours moved on
    with transaction.atomic():
        if event.status == THREAD_RESOLVED:
            conversation_close(conversation)
        elif event.status == THREAD_OPEN:
            conversation_reopen(conversation)
    return True
