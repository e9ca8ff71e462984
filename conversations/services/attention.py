"""Why a chat needs an agent: flag it with a reason, and say that reason in the reader's language.

``Conversation.attention_reason`` stores an English sentence. The known sentences are marked
for translation here (``gettext_noop``) and shown translated by :func:`attention_reason_text`;
any other stored text (an older or free-text reason) is shown as it is. A message that could
not be sent keeps the provider's raw error in ``error_code``/``error_message``; the sentence
for people comes from :func:`send_failure_reason`.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from conversations import events
from conversations.models import Conversation, Message
from conversations.services.serialize import conversation_event_data

__all__ = [
    "REASON_AI_NO_ANSWER",
    "REASON_AI_UNREADABLE",
    "REASON_IMAGE_UNREADABLE",
    "REASON_SEND_BAD_TOKEN",
    "REASON_SEND_INVALID",
    "REASON_SEND_NO_TOKEN",
    "REASON_SEND_REFUSED",
    "REASON_SEND_RETRIES",
    "REASON_SEND_UNDELIVERABLE",
    "REASON_SEND_WINDOW",
    "REASON_UNMATCHED",
    "REASON_VOICE_UNREADABLE",
    "attention_reason_catalog",
    "attention_reason_text",
    "conversation_flag_attention",
    "message_failure_text",
    "send_failure_reason",
]

REASON_UNMATCHED = gettext_noop("The bot did not understand the customer's last message.")
# A voice note or an image the pipeline could not turn into text (the message itself says why).
REASON_VOICE_UNREADABLE = gettext_noop("A voice note could not be transcribed: listen to it.")
REASON_IMAGE_UNREADABLE = gettext_noop("An image could not be described: look at it.")
REASON_AI_NO_ANSWER = gettext_noop("The AI found no answer in the catalog for the customer's question.")
REASON_AI_UNREADABLE = gettext_noop(
    "The customer sent something the AI cannot read (a photo not described, a sticker)."
)
REASON_SEND_NO_TOKEN = gettext_noop(
    "A reply could not be sent: the channel has no access token, or its configuration is unusable."
)
REASON_SEND_BAD_TOKEN = gettext_noop("A reply could not be sent: the channel's access token has expired or is invalid.")
REASON_SEND_WINDOW = gettext_noop(
    "A reply could not be sent: the customer's 24-hour window is closed; only a template message can go out."
)
REASON_SEND_INVALID = gettext_noop(
    "A reply could not be sent: WhatsApp would refuse the message as it is (check the rule that sends it)."
)
REASON_SEND_UNDELIVERABLE = gettext_noop("A reply could not be delivered to this customer's number.")
REASON_SEND_RETRIES = gettext_noop("A reply could not be sent: the provider kept failing and every retry was used.")
REASON_SEND_REFUSED = gettext_noop("A reply could not be sent: the provider refused it.")

# Error codes (ours and the providers') with a sentence of their own; the rest are "refused"
# or, after the last attempt, "retries used".
_SEND_FAILURE_BY_CODE = {
    "config": REASON_SEND_NO_TOKEN,
    "190": REASON_SEND_BAD_TOKEN,
    "131047": REASON_SEND_WINDOW,
    "validation": REASON_SEND_INVALID,
    "100": REASON_SEND_INVALID,
    "131008": REASON_SEND_INVALID,
    "131009": REASON_SEND_INVALID,
    "131051": REASON_SEND_INVALID,
    "131026": REASON_SEND_UNDELIVERABLE,
}


def send_failure_reason(*, code: str, attempts: int, max_attempts: int | None = None) -> str:
    """The (untranslated) sentence for a send given up with ``code`` after ``attempts`` tries."""
    known = _SEND_FAILURE_BY_CODE.get(code or "")
    if known:
        return known
    limit = settings.OUTBOUND_MAX_ATTEMPTS if max_attempts is None else max_attempts
    return REASON_SEND_RETRIES if attempts >= limit > 1 else REASON_SEND_REFUSED


def conversation_flag_attention(*, conversation_id: int, reason: str) -> None:
    """Mark the chat as needing an agent, saying why (the latest reason wins), and tell the consoles."""
    Conversation.objects.filter(pk=conversation_id).update(
        needs_attention=True, attention_reason=reason[:500], updated_at=timezone.now()
    )
    conversation = Conversation.objects.select_related("contact", "channel").filter(pk=conversation_id).first()
    if conversation is not None:
        events.broadcast_on_commit(
            groups=events.groups_for(conversation),
            name=events.CONVERSATION_UPDATED,
            data={**conversation_event_data(conversation), "needs_attention": True, "attention_reason": reason},
        )


ATTENTION_REASONS = (
    REASON_UNMATCHED,
    REASON_VOICE_UNREADABLE,
    REASON_IMAGE_UNREADABLE,
    REASON_AI_NO_ANSWER,
    REASON_AI_UNREADABLE,
    REASON_SEND_NO_TOKEN,
    REASON_SEND_BAD_TOKEN,
    REASON_SEND_WINDOW,
    REASON_SEND_INVALID,
    REASON_SEND_UNDELIVERABLE,
    REASON_SEND_RETRIES,
    REASON_SEND_REFUSED,
)


def attention_reason_catalog() -> dict[str, str]:
    """Every known reason (as stored, in English) in the active language: live events carry the stored
    reason, one frame for agents of every language, and each console translates it with this."""
    return {reason: gettext(reason) for reason in ATTENTION_REASONS}


def attention_reason_text(reason: str) -> str:
    """A stored reason in the active language (known sentences translated, other text as stored)."""
    return gettext(reason) if reason else ""


def message_failure_text(message: Message) -> str:
    """Why a failed message was not sent, in the active language; empty unless it failed."""
    if message.status != "failed":
        return ""
    return gettext(send_failure_reason(code=message.error_code, attempts=message.attempts))
