"""One rule for who may see a chat: the selector's list, the broadcaster's groups and the websocket
consumer's subscriptions agree, for every kind of user and chat (real consumer, real Redis channel layer)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from accounts.models import ChatRole, Role, User
from conversations import events
from conversations.consumers import ConsoleConsumer
from conversations.models import Channel, Contact, Conversation
from conversations.selectors import conversation_list_for_user

pytestmark = pytest.mark.django_db(transaction=True)

DONE = "test.done"


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
    }
    users["sales_agent"].roles.add(sales)
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
    layer = get_channel_layer()

    # The broadcaster's groups for each chat, sent in order on one connection...
    for conversation in conversations.values():
        for group in await database_sync_to_async(events.groups_for)(conversation):
            payload = {"id": conversation.pk}
            await layer.group_send(
                group, {"type": "console.event", "name": events.CONVERSATION_UPDATED, "data": payload}
            )
    # ... then a marker every console gets: what arrived before it is all that will.
    for user in users.values():
        group = events.GROUP_ALL if user.is_superuser else events.user_group(user.pk)
        await layer.group_send(group, {"type": "console.event", "name": DONE, "data": {}})

    received = {name: await _received(console) for name, console in consoles.items()}
    for console in consoles.values():
        await console.disconnect()

    assert received == listed
    # And the rule itself, spelled out: an agent without roles sees (and hears about) the unrouted chat.
    assert conversations["unrouted"].pk in received["agent_without_roles"]
    assert received["agent_without_roles"] == {
        conversations["unrouted"].pk,
        conversations["support_assigned_to_carla"].pk,
    }
    assert received["sales_agent"] == {conversations[n].pk for n in ("unrouted", "sales", "both")}
    assert received["admin"] == {c.pk for c in conversations.values()}


async def test_a_state_change_of_an_unrouted_chat_reaches_an_agent_without_roles() -> None:
    from conversations.services.state import conversation_take_over

    users, conversations = await database_sync_to_async(_world)()
    console = await _connect(users["agent_without_roles"])
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
