"""The one rule for who may see a chat, used by the selectors, the API, the media view, the event
broadcaster and the websocket consumer.

A user sees a chat when they are a superuser, or have ``conversations.view_all_conversations``,
or hold one of the chat's roles, or the chat has no role and they have
``conversations.take_unrouted_conversations``, or the chat is assigned to them.

The same rule in console groups: a conversation's events go to

- ``GROUP_ALL`` (superusers and "see every chat"),
- the group of each of its roles, or ``GROUP_UNROUTED`` when it has none,
- its assignee's own group.

A user joins ``GROUP_ALL`` if they see everything, else their own group, their roles' groups
and ``GROUP_UNROUTED`` if they may take unrouted chats. A user may see a chat exactly when
they share a group with it: ``conversation_visibility_q`` is that same rule as a query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q

__all__ = [
    "GROUP_ALL",
    "GROUP_UNROUTED",
    "PERM_TAKE_UNROUTED",
    "PERM_VIEW_ALL",
    "conversation_groups",
    "conversation_ids_visibility_q",
    "conversation_visibility_q",
    "conversation_visible",
    "groups_for",
    "groups_forget",
    "role_group",
    "user_group",
    "user_groups",
    "user_sees_all",
    "user_takes_unrouted",
    "viewer_groups",
]

GROUP_ALL = "console.all"  # superusers and "see every chat"
GROUP_UNROUTED = "console.unrouted"  # chats without a role: whoever may take unrouted chats

PERM_VIEW_ALL = "conversations.view_all_conversations"
PERM_TAKE_UNROUTED = "conversations.take_unrouted_conversations"


def role_group(role_id: int) -> str:
    return f"console.role.{role_id}"


def user_group(user_id: int) -> str:
    return f"console.user.{user_id}"


def _active(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def user_sees_all(user: Any) -> bool:
    """Superusers and holders of "See every chat" (has_perm is True for active superusers)."""
    return _active(user) and (user.is_superuser or user.has_perm(PERM_VIEW_ALL))


def user_takes_unrouted(user: Any) -> bool:
    return _active(user) and user.has_perm(PERM_TAKE_UNROUTED)


def conversation_groups(*, role_ids: Iterable[int], assigned_to_id: int | None) -> list[str]:
    """Every console group that may see a conversation with these roles and this assignee."""
    role_ids = list(role_ids)
    groups = [GROUP_ALL, *(role_group(r) for r in role_ids)]
    if not role_ids:
        groups.append(GROUP_UNROUTED)
    if assigned_to_id:
        groups.append(user_group(assigned_to_id))
    return groups


def viewer_groups(*, user: Any, role_ids: Iterable[int]) -> list[str]:
    """The console groups a user with these roles joins (none for an inactive or anonymous user)."""
    if not _active(user):
        return []
    if user_sees_all(user):
        return [GROUP_ALL]
    groups = [user_group(user.pk), *(role_group(r) for r in role_ids)]
    if user_takes_unrouted(user):
        groups.append(GROUP_UNROUTED)
    return groups


def _user_role_ids(user: Any) -> list[int]:
    if not _active(user) or user_sees_all(user):
        return []
    return list(user.roles.values_list("id", flat=True))


def user_groups(user: Any) -> list[str]:
    """The console groups ``user`` joins (the websocket consumer's subscription)."""
    return viewer_groups(user=user, role_ids=_user_role_ids(user))


def groups_for(conversation: Any) -> list[str]:
    """The console groups a conversation's events go to, from its roles and assignee.

    Kept on the instance: one turn of the pipeline sends several events for the same chat. Whoever
    changes the chat's roles through this instance calls ``groups_forget``; a new assignee is seen.
    """
    kept = conversation.__dict__.get("_console_groups")
    if kept is not None and kept[0] == conversation.assigned_to_id:
        return list(kept[1])
    groups = conversation_groups(role_ids=_role_ids(conversation.pk), assigned_to_id=conversation.assigned_to_id)
    conversation.__dict__["_console_groups"] = (conversation.assigned_to_id, tuple(groups))
    return groups


def groups_remember(conversation: Any, *, role_ids: Iterable[int]) -> None:
    """The caller knows the chat's roles (a chat it just created has none): ``groups_for`` asks no query."""
    groups = conversation_groups(role_ids=role_ids, assigned_to_id=conversation.assigned_to_id)
    conversation.__dict__["_console_groups"] = (conversation.assigned_to_id, tuple(groups))


def groups_forget(conversation: Any) -> None:
    """The chat's roles changed: its console groups are read again."""
    conversation.__dict__.pop("_console_groups", None)


def conversation_visible(*, user: Any, conversation: Any) -> bool:
    """May ``user`` see ``conversation``? They share a console group."""
    return not set(user_groups(user)).isdisjoint(groups_for(conversation))


def _reach(user: Any, role_id: int | None) -> bool | tuple[list[int], bool]:
    """The rule's inputs for one user: False (nothing), True (every chat, or every chat of ``role_id``, a role
    they hold), else (their role ids, whether they take unrouted chats) besides the chats assigned to them."""
    if not _active(user):
        return False
    if user_sees_all(user):
        return True
    role_ids = _user_role_ids(user)
    if role_id is not None and role_id in role_ids:
        return True
    return role_ids, user_takes_unrouted(user)


def conversation_visibility_q(*, user: Any, role_id: int | None = None) -> Q:
    """The chats ``user`` may see, as a filter on Conversation (the group rule above as a query).

    ``role_id``: the caller keeps only that role's chats. When the user holds that role, every one of
    them is visible and no further condition is needed (the database then starts from the role's chats).

    Subqueries, not joins: the result has no duplicate rows, so lists need no DISTINCT.
    """
    from accounts.models import ChatRole

    reach = _reach(user, role_id)
    if isinstance(reach, bool):
        return Q() if reach else Q(pk__in=[])
    role_ids, unrouted = reach
    visible = Q(assigned_to=user)
    if role_ids:
        visible |= Exists(ChatRole.objects.filter(conversation_id=OuterRef("pk"), role_id__in=role_ids))
    if unrouted:
        visible |= ~Exists(ChatRole.objects.filter(conversation_id=OuterRef("pk")))
    return visible


def conversation_ids_visibility_q(*, user: Any, field: str = "conversation_id", role_id: int | None = None) -> Q:
    """``conversation_visibility_q`` on a column holding a chat's id (``field``), for tables with many rows per
    chat (the dashboard's summaries and messages): the same rule, as subqueries that do not depend on the
    row, so the database reads each once (materialised) instead of testing every chat
    (bench/dashboard_api.sh: 355 -> 158 ms for an agent's month of summaries)."""
    from accounts.models import ChatRole
    from conversations.models import Conversation

    reach = _reach(user, role_id)
    if isinstance(reach, bool):
        return Q() if reach else Q(**{f"{field}__in": []})
    role_ids, unrouted = reach
    visible = Q(**{f"{field}__in": Conversation.objects.filter(assigned_to=user).values("pk")})
    if role_ids:
        visible |= Q(**{f"{field}__in": ChatRole.objects.filter(role_id__in=role_ids).values("conversation_id")})
    if unrouted:
        visible |= ~Q(**{f"{field}__in": ChatRole.objects.values("conversation_id")})
    return visible


def _role_ids(conversation_id: int) -> list[int]:
    # Runs for every flush and reply: plain SQL built once (about 0.06 ms of CPU against 0.25 ms
    # for the same query through the ORM, which compiles it on every call).
    from accounts.models import ChatRole
    from conversations.services.sql import model_sql

    sql = model_sql(ChatRole, "SELECT {role} FROM {table} WHERE {conversation} = %s ORDER BY {role}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [conversation_id])
        return [row[0] for row in cursor.fetchall()]
