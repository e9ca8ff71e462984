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

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction

from conversations import events
from conversations.models import Conversation, ConversationStatus
from conversations.services.serialize import conversation_event_data

__all__ = [
    "conversation_assign",
    "conversation_close",
    "conversation_hand_to_ai",
    "conversation_leave_ai",
    "conversation_mark_read",
    "conversation_mark_unread",
    "conversation_release_to_bot",
    "conversation_reopen",
    "conversation_restart",
    "conversation_set_alias",
    "conversation_set_roles",
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


def conversation_restart(conversation: Conversation) -> list[str]:
    """Back to the flow's initial step, answered by the rules again (an agent restarted the chat's flow)."""
    return _apply(conversation, save=True, step=settings.INITIAL_STEP, status=ConversationStatus.BOT, bot_paused=False)


def conversation_mark_unread(conversation: Conversation) -> list[str]:
    """An agent marks the chat unread (to come back to it): at least one unread message."""
    return _apply(conversation, save=True, unread_count=max(conversation.unread_count, 1))


def conversation_mark_read(conversation: Conversation, *, at_provider: bool) -> list[str]:
    """The agent read the chat: no unread messages; with ``at_provider``, blue ticks for the customer too.

    The provider marks every earlier message read with the latest one (Meta does), so only the
    latest inbound message is marked, and only when there was something unread. A provider error
    is logged, never raised: the console's read state does not depend on the provider.
    """
    had_unread = conversation.unread_count > 0
    changed = _apply(conversation, save=True, unread_count=0)
    if at_provider and had_unread:
        transaction.on_commit(lambda: _mark_read_at_provider(conversation.pk), robust=True)
    return changed


def _mark_read_at_provider(conversation_id: int) -> None:
    import logging

    from conversations.models import Message
    from conversations.providers.base import ProviderError
    from conversations.services.outbound import message_mark_read

    latest = (
        Message.objects.select_related("conversation__channel")
        .filter(conversation_id=conversation_id, direction="in")
        .exclude(provider_message_id=None)
        .exclude(provider_message_id="")
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None:
        return
    try:
        message_mark_read(message=latest)
    except ProviderError as exc:
        logging.getLogger(__name__).warning("Marking chat %s read at the provider failed: %s", conversation_id, exc)


def conversation_set_alias(conversation: Conversation, *, alias: str) -> list[str]:
    """The contact's friendly name, set by an agent (shown instead of the profile name)."""
    contact = conversation.contact
    alias = alias.strip()[:200]
    if contact.alias == alias:
        return []
    contact.alias = alias
    contact.save(update_fields=["alias", "updated_at"])
    conversation_state_broadcast(conversation)
    return ["alias"]


def conversation_set_roles(conversation: Conversation, *, role_ids: Iterable[int], by: str = "agent") -> list[str]:
    """The chat's roles become exactly ``role_ids``; the consoles of the old and the new roles are told."""
    from accounts.models import ChatRole

    wanted = set(role_ids)
    before_groups = events.groups_for(conversation)
    current = set(ChatRole.objects.filter(conversation=conversation).values_list("role_id", flat=True))
    if current == wanted:
        return []
    ChatRole.objects.filter(conversation=conversation, role_id__in=current - wanted).delete()
    ChatRole.objects.bulk_create(
        [ChatRole(conversation=conversation, role_id=role_id, assigned_by=by) for role_id in sorted(wanted - current)],
        ignore_conflicts=True,
    )
    from accounts.models import Role
    from conversations.services.serialize import conversation_data

    groups = list(dict.fromkeys([*before_groups, *events.groups_for(conversation)]))
    data = conversation_data(conversation, roles=list(Role.objects.filter(pk__in=wanted)))
    events.broadcast_on_commit(groups=groups, name=events.CONVERSATION_UPDATED, data=data)
    return ["roles"]
