"""Which console groups see a conversation: the superusers', its roles' (or every agent's) and its assignee's."""

from __future__ import annotations

import pytest

from accounts.models import ChatRole, Role, User
from conversations import events
from conversations.models import Contact, Conversation

pytestmark = pytest.mark.django_db


def test_a_conversation_without_roles_or_agent_reaches_every_agent(conversation: Conversation) -> None:
    # Unrouted: superusers and every agent (the list shows it to every agent too: test_visibility.py).
    assert events.groups_for(conversation) == [events.GROUP_ALL, events.GROUP_UNROUTED]


def test_roles_and_the_assigned_agent_add_their_groups(conversation: Conversation) -> None:
    sales, support, other = (Role.objects.create(name=n, keyword=n) for n in ("ventas", "soporte", "otro"))
    agent = User.objects.create_user("ana", password="x")
    for role in (support, sales):
        ChatRole.objects.create(conversation=conversation, role=role)
    someone_else = Conversation.objects.create(
        contact=Contact.objects.create(provider="meta", external_id="573009998877"), channel=conversation.channel
    )
    ChatRole.objects.create(conversation=someone_else, role=other)
    Conversation.objects.filter(pk=conversation.pk).update(assigned_to=agent)
    conversation.refresh_from_db()
    assert events.groups_for(conversation) == [
        events.GROUP_ALL,
        *sorted([events.role_group(sales.pk), events.role_group(support.pk)], key=lambda g: int(g.rsplit(".", 1)[1])),
        events.user_group(agent.pk),
    ]
