"""Real-time events for agent consoles: names, groups and the after-commit broadcast."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
CONVERSATION_UPDATED = "conversation.updated"

GROUP_ALL = "console.all"


def role_group(role_id: int) -> str:
    return f"console.role.{role_id}"


def user_group(user_id: int) -> str:
    return f"console.user.{user_id}"


def conversation_groups(*, role_ids: Iterable[int], assigned_to_id: int | None) -> list[str]:
    """Every console group that may see a conversation (superusers listen on GROUP_ALL)."""
    groups = [GROUP_ALL, *(role_group(r) for r in role_ids)]
    if assigned_to_id:
        groups.append(user_group(assigned_to_id))
    return groups


def groups_for(conversation: Any) -> list[str]:
    """The console groups of a conversation, from its roles and assignee."""
    return conversation_groups(
        role_ids=conversation.chat_roles.values_list("role_id", flat=True), assigned_to_id=conversation.assigned_to_id
    )


def broadcast_on_commit(*, groups: Iterable[str], name: str, data: dict[str, Any]) -> None:
    """Push an event to consoles once the surrounding transaction commits.

    A failing channel layer (Redis down) never breaks the write that caused the event.
    """
    payload = {"type": "console.event", "name": name, "data": data}
    group_names = list(groups)

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            for group in group_names:
                async_to_sync(layer.group_send)(group, payload)
        except Exception:  # the console catches up on reconnect; never lose the write
            logger.warning("Console broadcast %s failed", name, exc_info=True)

    transaction.on_commit(send, robust=True)
