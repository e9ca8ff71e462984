"""Process each new inbound message, in order per conversation.

For every pending message: download its media, wait for its transcription or description
when a step reads its kind (conversations.services.enrichment: a task of its own queue), then
let the responders answer (conversations.services.bots: the apps register them; the rule engine
first, then the AI for what the rules handed to it).

A transient failure (database locked or gone, connection reset, provider 5xx) leaves
the message pending with a later `next_attempt_at` (its `attempts` counted): the
conversation waits for it, so order holds. After PIPELINE_MAX_ATTEMPTS, or at once for
any other error, the message is marked failed and the chat flagged for agents with the reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from conversations.models import Conversation, MediaState, Message, ProcessingState
from conversations.services.attention import conversation_flag_attention
from conversations.services.bots import bot_respond, enrichment_needed
from conversations.services.enrichment import enrichment_wait
from conversations.services.errors import db_connection_recover, error_reason, is_transient_error, retry_delay
from conversations.services.media import message_media_download
from conversations.services.outbound import sends_here
from whatsapp_ia.locks import LOCK_BUSY_RETRY, conversation_lock

logger = logging.getLogger(__name__)

AGAIN_SOON = 0.05  # seconds: a message arrived as we finished, or the run used up its time budget


@dataclass(frozen=True)
class ProcessResult:
    """What `conversation_process` left: truthy when the conversation must be processed again."""

    retry_in: float | None = None  # seconds until the next run; None: nothing pending
    busy: bool = False  # another worker holds the conversation

    def __bool__(self) -> bool:
        return self.retry_in is not None


def _pending(conversation_id: int) -> Message | None:
    return (
        Message.objects.filter(
            conversation_id=conversation_id, direction="in", processing_state=ProcessingState.PENDING
        )
        .order_by("created_at", "id")
        .first()
    )


def conversation_process(*, conversation_id: int, now: datetime | None = None) -> ProcessResult:
    """Process the conversation's pending inbound messages oldest first.

    Truthy when work may remain (another worker held the lock, a message waits for its
    retry, or a message arrived as we finished): the caller runs it again after `retry_in`.
    """
    from conversations.services.ingest import replies_send, work_budget_seconds

    with conversation_lock("in", conversation_id) as held:
        if not held:
            return ProcessResult(retry_in=LOCK_BUSY_RETRY, busy=True)
        deadline = time.monotonic() + work_budget_seconds()
        while (message := _pending(conversation_id)) is not None:
            at = now or timezone.now()
            if message.next_attempt_at and message.next_attempt_at > at:
                return ProcessResult(retry_in=(message.next_attempt_at - at).total_seconds())
            if not held.owned():
                return ProcessResult(retry_in=LOCK_BUSY_RETRY, busy=True)  # lost it: the new holder goes on
            with sends_here() as replied:
                waiting = message_process(message=message, now=now)
            replies_send(replied)
            if waiting:  # its transcription or description task starts the conversation again when done
                return ProcessResult()
            if time.monotonic() > deadline:
                return ProcessResult(retry_in=AGAIN_SOON)
    return ProcessResult(retry_in=AGAIN_SOON) if _pending(conversation_id) is not None else ProcessResult()


def message_process(*, message: Message, now: datetime | None = None) -> bool:
    """One message through the pipeline; a failure is retried or marks the message, never loses it.

    True when the message waits for its transcription or description (the bots answer it later).
    """
    try:
        if message.media_state == "pending":
            message_media_download(message=message)
        if enrichment_wait(message=message, now=now):  # writes only for media a step reads
            return True
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
            # Under the row lock: a worker whose conversation lock expired, or a redelivered task,
            # may have processed this message meanwhile. Only a still pending one gets an answer.
            state = Message.objects.filter(pk=message.pk).values_list("processing_state", flat=True).first()
            if state != ProcessingState.PENDING:
                return False
            bot_respond(conversation=conversation, message=message)
            message.processing_state = ProcessingState.DONE
            message.next_attempt_at = None
            message.save(update_fields=["processing_state", "next_attempt_at", "updated_at"])
    except Exception as exc:
        logger.exception("Processing message %s failed", message.pk)
        message_process_failed(message=message, exc=exc, now=now)
    return False


def message_process_failed(*, message: Message, exc: BaseException, now: datetime | None = None) -> float | None:
    """Retry a transient failure later (backoff); give up at once on others or after the last attempt.

    Returns the seconds until the retry, None when the message was given up.
    """
    db_connection_recover()
    at = now or timezone.now()
    reason = error_reason(exc)
    message.refresh_from_db(fields=["data", "attempts"])  # what the rolled-back turn may have changed in memory
    message.attempts += 1
    message.data = {**message.data, "processing_error": reason, "failed_at": at.isoformat()}
    fields = ["attempts", "next_attempt_at", "data", "processing_state", "updated_at"]
    transient = is_transient_error(exc)
    if transient and message.attempts < settings.PIPELINE_MAX_ATTEMPTS:
        delay = retry_delay(message.attempts)
        message.processing_state = ProcessingState.PENDING  # a turn answered inline was stored as done
        message.next_attempt_at = at + timedelta(seconds=delay)
        message.save(update_fields=fields)
        return delay
    message.processing_state = ProcessingState.FAILED
    message.next_attempt_at = None
    message.save(update_fields=fields)
    if transient:
        reason = gettext("gave up after %(attempts)d attempts: %(reason)s") % {
            "attempts": message.attempts,
            "reason": reason,
        }
    conversation_flag_attention(
        conversation_id=message.conversation_id,
        reason=gettext("The bot could not answer a customer message (%(reason)s).") % {"reason": reason},
    )
    return None


def message_answerable_inline(*, kind: str, media_state: str) -> bool:
    """May the bots answer a message of this kind in the transaction that stores it?

    Yes when nothing slow must come first: no media to download, no enrichment step that reads
    its kind (transcribing or describing takes seconds). The others wait for a worker.
    """
    return media_state != MediaState.PENDING and not enrichment_needed(kind)


class InlineTurnFailed(Exception):
    """The bots failed on a message answered inline; ``error`` is what they raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def message_turn_inline(*, conversation: Conversation, message: Message) -> None:
    """The bots' turn on a message being stored, inside the storing transaction (one transaction per turn).

    The caller locked the conversation row, made ``message`` done and checked that no older inbound
    message of the conversation is still pending (order holds). The message's INSERT waits for the
    turn's first reply, or its end (``writes.turn_message_store``), so that what the bots note on it
    rides in it. No savepoint: a failure of the bots raises :class:`InlineTurnFailed`, the caller's
    whole transaction rolls back and the message is stored again pending, then ``message_turn_failed``
    records the failure (a bot that fails is rare; the savepoint pair cost every turn two statements).
    A database error is raised as it is: the caller's whole transaction is retried (the message is
    stored once).
    """
    try:
        bot_respond(conversation=conversation, message=message)
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("Processing message %s failed", message.pk or message.provider_message_id)
        raise InlineTurnFailed(exc) from exc


def message_turn_failed(*, message: Message, exc: BaseException, now: datetime | None = None) -> None:
    """The bots failed on ``message`` answered inline (stored again, pending): retried later or given up,
    as in ``message_process``."""
    delay = message_process_failed(message=message, exc=exc, now=now)
    if delay is not None:
        from conversations.tasks import conversation_process_task

        conversation_id = message.conversation_id
        transaction.on_commit(
            lambda: conversation_process_task.apply_async((conversation_id,), countdown=delay), robust=True
        )
