"""The one owner of a conversation's state: who answers it (rules, AI, a human), its assignee, open or closed.

Every change of ``status``, ``bot_paused`` or ``assigned_to`` goes through a function here;
the rule engine (flows), the AI (catalog_ai), ingest and the console call them.

Each transition sets only the fields that change and returns their names. With
``save=True`` (the default) it writes them and tells the consoles once (after commit).
A caller that is already saving the row in the same turn passes ``save=False``, adds the
returned fields to its own ``save(update_fields=...)`` and sends its own event, so the
message pipeline pays no extra write for a transition.
"""

from __future__ import annotations

from typing import Any

from conversations import events
from conversations.models import Conversation, ConversationStatus
from conversations.services.serialize import conversation_event_data

__all__ = [
    "conversation_assign",
    "conversation_close",
    "conversation_hand_to_ai",
    "conversation_leave_ai",
    "conversation_release_to_bot",
    "conversation_reopen",
    "conversation_state_broadcast",
    "conversation_take_over",
]


def conversation_state_broadcast(conversation: Conversation) -> None:
    """Tell the consoles that may see the chat about its new state (after commit)."""
    events.broadcast_on_commit(
        groups=events.groups_for(conversation),
        name=events.CONVERSATION_UPDATED,
        data=conversation_event_data(conversation),
    )


def _apply(conversation: Conversation, *, save: bool, **values: Any) -> list[str]:
    changed = [name for name, value in values.items() if getattr(conversation, name) != value]
    for name in changed:
        setattr(conversation, name, values[name])
    if save and changed:
        conversation.save(update_fields=[*changed, "updated_at"])
        conversation_state_broadcast(conversation)
    return changed


def conversation_hand_to_ai(conversation: Conversation, *, save: bool = True) -> list[str]:
    """The AI answers the chat from now on (the rules moved it to the AI hand-off step)."""
    return _apply(conversation, save=save, status=ConversationStatus.AI)


def conversation_leave_ai(conversation: Conversation, *, save: bool = True) -> list[str]:
    """A chat the AI was answering goes back to the rules; any other status is kept (a human keeps the chat)."""
    if conversation.status != ConversationStatus.AI:
        return []
    return _apply(conversation, save=save, status=ConversationStatus.BOT)


def conversation_take_over(conversation: Conversation, *, user: Any = None, save: bool = True) -> list[str]:
    """A human has the chat: the bot stays silent (global commands aside); ``user`` becomes its assignee."""
    values: dict[str, Any] = {"status": ConversationStatus.HUMAN, "bot_paused": True}
    if user is not None:
        values["assigned_to_id"] = user.pk
    return _apply(conversation, save=save, **values)


def conversation_release_to_bot(conversation: Conversation, *, save: bool = True) -> list[str]:
    """The rules answer the chat again (a human released it, or the customer restarted the menu)."""
    return _apply(conversation, save=save, status=ConversationStatus.BOT, bot_paused=False)


def conversation_assign(conversation: Conversation, *, user: Any, save: bool = True) -> list[str]:
    """Give the chat to ``user`` (None: unassigned); who answers it does not change."""
    return _apply(conversation, save=save, assigned_to_id=user.pk if user is not None else None)


def conversation_close(conversation: Conversation, *, save: bool = True) -> list[str]:
    """Close the chat; the customer's next message reopens it for the rules."""
    return _apply(conversation, save=save, status=ConversationStatus.CLOSED)


def conversation_reopen(conversation: Conversation, *, save: bool = True) -> list[str]:
    """A closed chat the customer writes to again goes back to the rules; an open one is left as it is."""
    if conversation.status != ConversationStatus.CLOSED:
        return []
    return _apply(conversation, save=save, status=ConversationStatus.BOT, bot_paused=False)
