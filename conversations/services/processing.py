"""Process each new inbound message, in order per conversation.

For every pending message: download its media, then let the bot answer —
global commands first, silence while a human has the chat, the AI hand-off
step left to the AI responder, otherwise the rule engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Message, ProcessingState
from conversations.services.locks import conversation_lock
from conversations.services.media import message_media_download

logger = logging.getLogger(__name__)


def _pending(conversation_id: int) -> Message | None:
    return (
        Message.objects.filter(
            conversation_id=conversation_id, direction="in", processing_state=ProcessingState.PENDING
        )
        .order_by("created_at", "id")
        .first()
    )


def conversation_process(*, conversation_id: int) -> bool:
    """Process the conversation's pending inbound messages oldest first.

    Returns True when work may remain (another worker held the lock, or a
    message arrived as we finished): the caller runs it again.
    """
    with conversation_lock("in", conversation_id) as held:
        if not held:
            return True
        while (message := _pending(conversation_id)) is not None:
            message_process(message=message)
    return _pending(conversation_id) is not None


def message_process(*, message: Message) -> None:
    """One message through the pipeline; a failure marks the message, never loses it."""
    try:
        if message.media_state == "pending":
            message_media_download(message=message)
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
            bot_respond(conversation=conversation, message=message)
            message.processing_state = ProcessingState.DONE
            message.save(update_fields=["processing_state", "updated_at"])
    except Exception as exc:
        logger.exception("Processing message %s failed", message.pk)
        message.processing_state = ProcessingState.FAILED
        message.data = {**message.data, "processing_error": str(exc)[:1000], "failed_at": timezone.now().isoformat()}
        message.save(update_fields=["processing_state", "data", "updated_at"])


def bot_respond(*, conversation: Conversation, message: Message) -> None:
    """The bot's turn: the rule flows decide (and hand over to a human or the AI when they say so)."""
    from flows.services import flow_respond

    flow_respond(conversation=conversation, message=message)


# Responders that answer later than the message (the AI waits for the customer's burst to end)
# register here how to answer right away. The bot simulator, which has no worker and no reason
# to wait, runs them after processing a turn; production never calls them.
_IMMEDIATE_TURNS: dict[str, Callable[[int], object]] = {}


def immediate_turn_register(*, name: str, run: Callable[[int], object]) -> None:
    """Register ``run(conversation_id)``: answer whatever that responder still owes the chat, now."""
    _IMMEDIATE_TURNS[name] = run


def conversation_immediate_turns_run(*, conversation_id: int) -> None:
    """Let every deferred responder answer the conversation now (see immediate_turn_register)."""
    for run in list(_IMMEDIATE_TURNS.values()):
        run(conversation_id)
