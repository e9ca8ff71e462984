"""One rule for who may see a chat: the selector's list, the broadcaster's groups, the websocket
consumer's subscriptions and the media view agree, for every kind of user and chat (real consumer,
real Redis channel layer)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.db import transaction

from accounts.models import ChatRole, Role, User
from conversations import events
from conversations.consumers import ConsoleConsumer
from conversations.models import Channel, Contact, Conversation
from conversations.selectors import conversation_list_for_user
from conversations.visibility import user_groups

pytestmark = pytest.mark.django_db(transaction=True)

DONE = "test.done"


def _permission(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="conversations", codename=codename)


def _world() -> tuple[dict[str, User], dict[str, Conversation]]:
    sales, support = (
        Role.objects.create(name="Ventas", keyword="ventas"),
        Role.objects.create(name="Soporte", keyword="soporte"),
    )
    users = {
        "admin": User.objects.create_superuser("admin", password="x"),
        "sales_agent": User.objects.create_user("ana", password="x"),
        "support_agent": User.objects.create_user("beto", password="x"),
        "agent_without_roles": User.objects.create_user("carla", password="x"),
        "agent_takes_unrouted": User.objects.create_user("dario", password="x"),
        "supervisor": User.objects.create_user("elena", password="x"),
    }
    users["sales_agent"].roles.add(sales)
    users["agent_takes_unrouted"].user_permissions.add(_permission("take_unrouted_conversations"))
    users["supervisor"].user_permissions.add(_permission("view_all_conversations"))
    users["support_agent"].roles.add(support)
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="1234567890")

    def chat(number: str, *roles: Role, assigned_to: User | None = None) -> Conversation:
        contact = Contact.objects.create(provider="meta", external_id=number)
        conversation = Conversation.objects.create(contact=contact, channel=channel, assigned_to=assigned_to)
        for role in roles:
            ChatRole.objects.create(conversation=conversation, role=role)
        return conversation

    conversations = {
        "unrouted": chat("573000000001"),
        "sales": chat("573000000002", sales),
        "support": chat("573000000003", support),
        "both": chat("573000000004", sales, support),
        "support_assigned_to_carla": chat("573000000005", support, assigned_to=users["agent_without_roles"]),
    }
    return users, conversations


def _listed(users: dict[str, User]) -> dict[str, set[int]]:
    return {
        name: set(conversation_list_for_user(user=user).values_list("pk", flat=True)) for name, user in users.items()
    }


async def _connect(user: User) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(ConsoleConsumer.as_asgi(), "/ws/console/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=10))["type"] == "hello"
    return communicator


async def _received(communicator: WebsocketCommunicator) -> set[int]:
    """The conversation ids of the events this console got, up to the DONE marker."""
    ids: set[int] = set()
    while (message := await communicator.receive_json_from(timeout=10))["event"] != DONE:
        ids.add(message["data"]["id"])
    return ids


async def test_every_user_gets_live_events_for_exactly_the_chats_their_list_shows() -> None:
    users, conversations = await database_sync_to_async(_world)()
    listed = await database_sync_to_async(_listed)(users)
    consoles = {name: await _connect(user) for name, user in users.items()}

    def broadcast() -> None:
        # The broadcaster's groups for each chat, in one transaction...
        with transaction.atomic():
            for conversation in conversations.values():
                groups = events.groups_for(conversation)
                data = {"id": conversation.pk}
                events.broadcast_on_commit(groups=groups, name=events.CONVERSATION_UPDATED, data=data)
        # ... then a marker every console gets: what arrived before it is all that will.
        groups = [events.GROUP_ALL, *(events.user_group(u.pk) for u in users.values())]
        events.broadcast_on_commit(groups=groups, name=DONE, data={})

    await database_sync_to_async(broadcast)()
    received = {name: await _received(console) for name, console in consoles.items()}
    for console in consoles.values():
        await console.disconnect()

    assert received == listed
    # And the rule itself, spelled out: only agents allowed to take unrouted chats see the chat without
    # a role; an agent sees their roles' chats and the ones assigned to them; "see all" sees everything.
    every = {c.pk for c in conversations.values()}
    assert received["agent_without_roles"] == {conversations["support_assigned_to_carla"].pk}
    assert received["agent_takes_unrouted"] == {conversations["unrouted"].pk}
    assert received["sales_agent"] == {conversations[n].pk for n in ("sales", "both")}
    assert received["support_agent"] == {conversations[n].pk for n in ("support", "both", "support_assigned_to_carla")}
    assert received["admin"] == every
    assert received["supervisor"] == every


async def test_a_state_change_of_an_unrouted_chat_reaches_an_agent_who_takes_unrouted_chats() -> None:
    from conversations.services.state import conversation_take_over

    users, conversations = await database_sync_to_async(_world)()
    console = await _connect(users["agent_takes_unrouted"])
    unrouted = conversations["unrouted"]

    await database_sync_to_async(conversation_take_over)(unrouted)  # saves, broadcasts after commit

    message = await console.receive_json_from(timeout=10)
    await console.disconnect()
    assert message["event"] == events.CONVERSATION_UPDATED
    assert message["data"]["id"] == unrouted.pk and message["data"]["status"] == "human"


def _chats_seen(user: Any, conversations: dict[str, Conversation]) -> set[str]:
    from conversations.visibility import conversation_visible

    return {name for name, c in conversations.items() if conversation_visible(user=user, conversation=c)}


def test_the_per_chat_check_agrees_with_the_list() -> None:
    users, conversations = _world()
    listed = _listed(users)
    for name, user in users.items():
        assert {conversations[c].pk for c in _chats_seen(user, conversations)} == listed[name]


def _media_message(conversation: Conversation) -> int:
    """A customer image in ``conversation``, stored privately; its message id."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from conversations.models import Message

    name = default_storage.save(f"{conversation.channel_id}/2026/01/photo-{conversation.pk}.jpg", ContentFile(b"jpg"))
    message = Message.objects.create(
        conversation=conversation, direction="in", kind="image", provider="meta", media_file=name
    )
    return message.pk


def test_selector_groups_and_media_view_agree_for_every_kind_of_user() -> None:
    from django.test import Client

    users, conversations = _world()
    media = {name: _media_message(c) for name, c in conversations.items()}
    for user_name, user in users.items():
        listed = set(conversation_list_for_user(user=user).values_list("pk", flat=True))
        joined = set(user_groups(user))
        client = Client()
        client.force_login(user)
        for chat_name, conversation in conversations.items():
            by_groups = not joined.isdisjoint(events.groups_for(conversation))
            served = client.get(f"/messages/{media[chat_name]}/media").status_code
            assert served in (200, 404), (user_name, chat_name, served)
            assert (conversation.pk in listed) == by_groups == (served == 200), (user_name, chat_name)


def test_inactive_users_see_nothing() -> None:
    users, _conversations = _world()
    for user in users.values():
        user.is_active = False
        assert not conversation_list_for_user(user=user).exists()
        assert user_groups(user) == []


def test_the_rule_on_a_chat_id_column_agrees_with_the_list() -> None:
    """conversation_ids_visibility_q (the dashboard's summaries and messages) selects the same chats, with and
    without a role named (a role the user holds, or not)."""
    from accounts.models import Role
    from conversations.visibility import conversation_ids_visibility_q, conversation_visibility_q

    users, _ = _world()
    listed = _listed(users)
    for name, user in users.items():
        assert set(Conversation.objects.filter(conversation_ids_visibility_q(user=user, field="pk"))) == set(
            Conversation.objects.filter(pk__in=listed[name])
        ), name
        for role in Role.objects.all():
            in_role = Conversation.objects.filter(chat_roles__role=role)
            expected = set(in_role.filter(conversation_visibility_q(user=user)))
            assert set(in_role.filter(conversation_ids_visibility_q(user=user, field="pk", role_id=role.pk))) == (
                expected
            ), (name, role.name)
            assert set(in_role.filter(conversation_visibility_q(user=user, role_id=role.pk))) == expected
