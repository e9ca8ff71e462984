"""Customer media is private: only users who may see the chat get it, with headers that keep it inert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import Resolver404, resolve

from accounts.models import ChatRole, Role, User
from conversations.models import Message
from conversations.tests.media_support import HTML_ATTACK, JPEG, SVG_ATTACK, receive_media

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales_chat_role(meta_settings: Any) -> Role:
    return Role.objects.create(name="Ventas", keyword="ventas")


@pytest.fixture
def agent_client(sales_chat_role: Role) -> Client:
    """An agent of the sales team (not staff, not superuser)."""
    user = User.objects.create_user(username="ana", password="pass-ana-123")
    user.roles.add(sales_chat_role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def outsider_client(meta_settings: Any) -> Client:
    """An agent of another team: may not see the sales chats."""
    support = Role.objects.create(name="Soporte", keyword="soporte")
    user = User.objects.create_user(username="otto", password="pass-otto-123", is_staff=True)
    user.roles.add(support)
    client = Client()
    client.force_login(user)
    return client


def _in_sales_chat(message: Message, role: Role) -> Message:
    ChatRole.objects.create(conversation=message.conversation, role=role)
    return message


def _url(message: Message) -> str:
    return f"/messages/{message.pk}/media"


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_html_document_is_stored_as_bin_and_served_as_an_inert_attachment(
    fake_graph: Any, agent_client: Client, sales_chat_role: Role
) -> None:
    message = _in_sales_chat(receive_media(fake_graph, HTML_ATTACK, mime_type="text/html"), sales_chat_role)

    assert message.media_state == "stored", message.media_error
    assert message.media_file.name.endswith(".bin"), message.media_file.name
    response = agent_client.get(_url(message))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert _body(response) == HTML_ATTACK  # nothing lost: the customer's bytes, as sent


def test_svg_image_is_not_served_inline(fake_graph: Any, agent_client: Client, sales_chat_role: Role) -> None:
    message = _in_sales_chat(
        receive_media(fake_graph, SVG_ATTACK, kind="image", mime_type="image/svg+xml"), sales_chat_role
    )

    assert message.media_file.name.endswith(".bin")
    response = agent_client.get(_url(message))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_claimed_jpeg_that_is_html_is_typed_by_its_content(
    fake_graph: Any, agent_client: Client, sales_chat_role: Role
) -> None:
    claimed_jpeg = receive_media(fake_graph, HTML_ATTACK, kind="image", mime_type="image/jpeg")
    message = _in_sales_chat(claimed_jpeg, sales_chat_role)

    assert message.media_file.name.endswith(".bin")
    assert message.data["media_sniffed_type"] == "application/octet-stream"
    assert agent_client.get(_url(message))["Content-Type"] == "application/octet-stream"


def test_a_real_jpeg_is_shown_inline(fake_graph: Any, agent_client: Client, sales_chat_role: Role) -> None:
    message = _in_sales_chat(receive_media(fake_graph, JPEG, kind="image", mime_type="image/jpeg"), sales_chat_role)

    assert message.media_file.name.endswith(".jpg")
    response = agent_client.get(_url(message))
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert _body(response) == JPEG


def test_anonymous_users_are_sent_to_log_in(fake_graph: Any, client: Client, sales_chat_role: Role) -> None:
    message = _in_sales_chat(receive_media(fake_graph, JPEG, kind="image", mime_type="image/jpeg"), sales_chat_role)

    response = client.get(_url(message))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_user_who_may_not_see_the_chat_gets_404_like_a_missing_one(
    fake_graph: Any, outsider_client: Client, sales_chat_role: Role
) -> None:
    message = _in_sales_chat(receive_media(fake_graph, JPEG, kind="image", mime_type="image/jpeg"), sales_chat_role)
    member = User.objects.create_user(username="sol", password="pass-sol-123")
    member.roles.add(sales_chat_role)
    member_client = Client()
    member_client.force_login(member)
    assert member_client.get(_url(message)).status_code == 200  # the URL works for those who may see the chat

    assert outsider_client.get(_url(message)).status_code == 404
    assert outsider_client.get(f"/messages/{message.pk + 1000}/media").status_code == 404


def test_customer_media_is_not_under_any_public_url(fake_graph: Any, client: Client, sales_chat_role: Role) -> None:
    message = receive_media(fake_graph, JPEG, kind="image", mime_type="image/jpeg")

    with pytest.raises(Resolver404):  # no URL maps the stored path to a file
        resolve("/media/" + message.media_file.name)
    assert client.get("/media/" + message.media_file.name).status_code == 404
    assert client.get("/media/public/../" + message.media_file.name).status_code == 404


def test_files_stored_by_older_versions_are_served_through_the_view_inertly(
    fake_graph: Any, agent_client: Client, sales_chat_role: Role
) -> None:
    message = _in_sales_chat(receive_media(fake_graph, JPEG, kind="image", mime_type="image/jpeg"), sales_chat_role)
    legacy = f"{message.conversation.channel_id}/2025/01/0123456789abcdef0123456789abcdef.html"
    path = Path(django_settings.MEDIA_ROOT) / legacy
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(HTML_ATTACK)
    Message.objects.filter(pk=message.pk).update(media_file=legacy)

    response = agent_client.get(_url(message))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert _body(response) == HTML_ATTACK


def test_published_files_stay_public_under_their_own_prefix(client: Client) -> None:
    path = Path(django_settings.MEDIA_ROOT) / "public" / "rules" / "menu.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)

    response = client.get("/media/public/rules/menu.png")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-3", 10, (0, 3)),
        ("bytes=4-", 10, (4, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=2-100", 10, (2, 9)),
        ("", 10, None),
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole file
        ("items=0-3", 10, None),
        ("bytes=5-2", 10, None),
        ("bytes=-", 10, None),
    ],
)
def test_byte_range_parsing(header: str, size: int, expected: tuple[int, int] | None) -> None:
    from conversations.views_media import byte_range

    assert byte_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=99-120", "bytes=-0"])
def test_byte_range_past_the_end_is_unsatisfiable(header: str) -> None:
    from conversations.views_media import byte_range

    with pytest.raises(ValueError):
        byte_range(header, 10)


def test_a_range_request_gets_206_with_the_slice_so_players_can_seek(
    fake_graph: Any, agent_client: Client, sales_chat_role: Role
) -> None:
    message = _in_sales_chat(receive_media(fake_graph, JPEG, kind="image", mime_type="image/jpeg"), sales_chat_role)
    whole = agent_client.get(_url(message))
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"

    part = agent_client.get(_url(message), HTTP_RANGE="bytes=2-5")
    assert part.status_code == 206
    assert _body(part) == JPEG[2:6]
    assert part["Content-Range"] == f"bytes 2-5/{len(JPEG)}" and part["Content-Length"] == "4"
    assert part["X-Content-Type-Options"] == "nosniff" and part["Content-Security-Policy"] == "sandbox"

    tail = agent_client.get(_url(message), HTTP_RANGE="bytes=-3")
    assert _body(tail) == JPEG[-3:]

    past = agent_client.get(_url(message), HTTP_RANGE=f"bytes={len(JPEG)}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(JPEG)}"


def test_a_range_request_from_someone_who_may_not_see_the_chat_gets_404(
    fake_graph: Any, outsider_client: Client, sales_chat_role: Role
) -> None:
    message = _in_sales_chat(receive_media(fake_graph, JPEG, kind="image", mime_type="image/jpeg"), sales_chat_role)
    assert outsider_client.get(_url(message), HTTP_RANGE="bytes=0-3").status_code == 404
