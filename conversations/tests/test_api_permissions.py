"""Every console API endpoint for every kind of user: who gets the chat, who gets 404, who must log in.

Users: an agent holding the chat's role, an agent of another role, an agent allowed to take
unrouted chats, a user with "see every chat", a superuser, anonymous, and token auth. Chats: one
routed to the sales role and one without any role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import ChatRole, Role, User
from conversations.models import Channel, Contact, Conversation, Message, MessageTemplate
from conversations.tests.conftest import PHONE_NUMBER_ID

pytestmark = pytest.mark.django_db


def _permission(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="conversations", codename=codename)


@dataclass
class World:
    sales_chat: Conversation
    unrouted_chat: Conversation
    users: dict[str, User | None]
    template: MessageTemplate


@pytest.fixture
def world(meta_settings: Any, fake_graph: Any) -> World:
    sales, support = (
        Role.objects.create(name="Ventas", keyword="ventas"),
        Role.objects.create(name="Soporte", keyword="soporte"),
    )
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id=PHONE_NUMBER_ID)
    recent = timezone.now() - timedelta(minutes=5)

    def chat(number: str, *roles: Role) -> Conversation:
        contact = Contact.objects.create(provider="meta", external_id=number, profile_name=f"Cliente {number[-2:]}")
        conversation = Conversation.objects.create(
            contact=contact, channel=channel, last_inbound_at=recent, last_activity_at=recent, unread_count=1
        )
        for role in roles:
            ChatRole.objects.create(conversation=conversation, role=role)
        Message.objects.create(
            conversation=conversation, direction="in", kind="text", text="hola", provider="meta",
            provider_message_id=f"wamid.{number}",
        )  # fmt: skip
        return conversation

    users: dict[str, User | None] = {
        "agent_with_role": User.objects.create_user("ana", password="x"),
        "agent_other_role": User.objects.create_user("beto", password="x"),
        "agent_takes_unrouted": User.objects.create_user("dario", password="x"),
        "view_all": User.objects.create_user("elena", password="x"),
        "superuser": User.objects.create_superuser("root", password="x"),
        "anonymous": None,
    }
    users["agent_with_role"].roles.add(sales)
    users["agent_other_role"].roles.add(support)
    users["agent_takes_unrouted"].user_permissions.add(_permission("take_unrouted_conversations"))
    users["view_all"].user_permissions.add(_permission("view_all_conversations"))
    template = MessageTemplate.objects.create(
        channel=channel, name="pedido_listo", language="es", status="APPROVED", synced_at=timezone.now(),
        components=[{"type": "BODY", "text": "Hola {{1}}"}],
        variables=[{"key": "body.1", "component": "body", "name": "1", "type": "text", "example": ""}],
    )  # fmt: skip
    return World(chat("573000000001", sales), chat("573000000002"), users, template)


SEES_SALES = {"agent_with_role", "view_all", "superuser"}
SEES_UNROUTED = {"agent_takes_unrouted", "view_all", "superuser"}

ACTIONS = ("takeover", "release", "close", "reopen", "read", "unread", "restart")
ALL_USERS = ["agent_with_role", "agent_other_role", "agent_takes_unrouted", "view_all", "superuser", "anonymous"]

# (method, path after /api/conversations/{id}/, body, success status)
CHAT_ENDPOINTS = [
    ("get", "", None, 200),
    ("patch", "", {"alias": "Cliente VIP"}, 200),
    ("get", "messages/", None, 200),
    ("post", "messages/", {"kind": "text", "text": "Hola, te ayudo"}, 201),
    ("post", "messages/", {"kind": "template", "template": "TEMPLATE", "variables": {"body.1": "Laura"}}, 201),
    ("get", "export/?format=json", None, 200),
    ("get", "export/?format=csv", None, 200),
    *(("post", f"{action}/", None, 200) for action in ACTIONS),
]  # fmt: skip


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _call(client: Client, method: str, url: str, body: Any, **extra: Any) -> Any:
    if body is None:
        return getattr(client, method)(url, **extra)
    return getattr(client, method)(url, data=body, content_type="application/json", **extra)


def _body(body: Any, world: World) -> Any:
    if isinstance(body, dict) and body.get("template") == "TEMPLATE":
        return {**body, "template": world.template.pk}
    return body


@pytest.mark.parametrize(("method", "path", "body", "success"), CHAT_ENDPOINTS)
@pytest.mark.parametrize("user_name", ALL_USERS)
@pytest.mark.parametrize("chat_name", ["sales_chat", "unrouted_chat"])
def test_chat_endpoints_answer_only_those_who_may_see_the_chat(
    world: World, method: str, path: str, body: Any, success: int, user_name: str, chat_name: str
) -> None:
    conversation = getattr(world, chat_name)
    allowed = SEES_SALES if chat_name == "sales_chat" else SEES_UNROUTED
    response = _call(
        _client(world.users[user_name]), method, f"/api/conversations/{conversation.pk}/{path}", _body(body, world)
    )

    if user_name == "anonymous":
        assert response.status_code == 401
    elif user_name in allowed:
        assert response.status_code == success, response.content
    else:  # never reveals that the chat exists
        assert response.status_code == 404
        client = _client(world.users[user_name])
        missing = _call(client, method, f"/api/conversations/99999/{path}", _body(body, world))
        assert response.json() == missing.json()


@pytest.mark.parametrize("user_name", ALL_USERS)
@pytest.mark.parametrize("chat_name", ["sales_chat", "unrouted_chat"])
def test_the_media_view_follows_the_same_rule(world: World, user_name: str, chat_name: str) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from conversations.tests.media_support import JPEG

    conversation = getattr(world, chat_name)
    message = Message.objects.create(conversation=conversation, direction="in", kind="image", provider="meta")
    message.media_file.name = default_storage.save(
        f"{conversation.channel_id}/2026/01/{chat_name}.jpg", ContentFile(JPEG)
    )
    message.save(update_fields=["media_file"])
    allowed = SEES_SALES if chat_name == "sales_chat" else SEES_UNROUTED

    response = _client(world.users[user_name]).get(f"/messages/{message.pk}/media")

    if user_name == "anonymous":
        assert response.status_code == 302  # to the login page
    elif user_name in allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 404


@pytest.mark.parametrize("user_name", ALL_USERS[:-1])
def test_the_list_shows_each_user_exactly_the_chats_they_may_see(world: World, user_name: str) -> None:
    response = _client(world.users[user_name]).get("/api/conversations/")

    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    expected = set()
    if user_name in SEES_SALES:
        expected.add(world.sales_chat.pk)
    if user_name in SEES_UNROUTED:
        expected.add(world.unrouted_chat.pk)
    assert ids == expected


@pytest.mark.parametrize(
    "url", ["/api/conversations/", "/api/quick-replies/", "/api/templates/", "/api/me/", "/api/schema/", "/api/docs/"]
)
@pytest.mark.parametrize("user_name", ALL_USERS)
def test_lists_and_pages_need_a_login_and_nothing_more(world: World, url: str, user_name: str) -> None:
    response = _client(world.users[user_name]).get(url)

    if user_name == "anonymous":
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("user_name", "expected"), [("agent_with_role", 403), ("view_all", 403), ("superuser", 200), ("anonymous", 401)]
)
def test_only_staff_sync_templates(world: World, fake_graph: Any, user_name: str, expected: int) -> None:
    Channel.objects.filter(pk=world.sales_chat.channel_id).update(business_account_id="102290129340398")
    fake_graph.add_templates("102290129340398", [])

    response = _client(world.users[user_name]).post(f"/api/templates/sync/?channel={world.sales_chat.channel_id}")

    assert response.status_code == expected


def test_a_token_authenticates_scripts_without_a_session(world: World) -> None:
    token = Token.objects.create(user=world.users["agent_with_role"])
    client = Client()  # no session, no CSRF token: a script
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}

    listed = client.get("/api/conversations/", **auth)
    url = f"/api/conversations/{world.sales_chat.pk}/messages/"
    sent = _call(client, "post", url, {"kind": "text", "text": "Hola"}, **auth)
    hidden = client.get(f"/api/conversations/{world.unrouted_chat.pk}/", **auth)
    wrong = client.get("/api/conversations/", HTTP_AUTHORIZATION="Token not-a-token")

    assert listed.status_code == 200 and [r["id"] for r in listed.json()["results"]] == [world.sales_chat.pk]
    assert sent.status_code == 201
    assert hidden.status_code == 404
    assert wrong.status_code == 401


def test_session_writes_need_the_csrf_token(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["agent_with_role"])
    url = f"/api/conversations/{world.sales_chat.pk}/takeover/"

    refused = client.post(url)
    secret = "k" * 32  # a CSRF secret; the header may carry it unmasked
    client.cookies["csrftoken"] = secret
    accepted = client.post(url, HTTP_X_CSRFTOKEN=secret)

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 200


def test_an_inactive_users_token_is_refused(world: World) -> None:
    user = world.users["superuser"]
    token = Token.objects.create(user=user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = Client().get("/api/conversations/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 401


def test_me_says_who_the_user_is_and_what_they_may_do(world: World) -> None:
    data = _client(world.users["agent_takes_unrouted"]).get("/api/me/").json()
    agent = _client(world.users["agent_with_role"]).get("/api/me/").json()

    assert data["username"] == "dario" and data["is_superuser"] is False
    assert data["permissions"] == ["conversations.take_unrouted_conversations"]
    assert agent["roles"] == [{"id": Role.objects.get(keyword="ventas").pk, "name": "Ventas"}]
    assert agent["language"] == "es"
