"""The bot simulator's chats stay out of the home page's list and counts unless asked for."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from conversations.models import Channel, Contact, Conversation
from conversations.selectors import access_conversation_by_id, console_summary

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss() -> User:
    return User.objects.create_superuser(username="jefe", password="clave-jefe-123")


@pytest.fixture
def chats() -> dict[str, Conversation]:
    real = Channel.objects.create(name="Ventas", provider="meta", external_id="1065")
    sim = Channel.objects.create(name="Simulator", provider="simulator", external_id="simulator")
    now = timezone.now()
    laura = Contact.objects.create(provider="meta", external_id="573001112233", profile_name="Laura")
    tester = Contact.objects.create(provider="simulator", external_id="sim-1", profile_name="Probador")
    return {
        "customer": Conversation.objects.create(contact=laura, channel=real, last_activity_at=now, unread_count=1),
        "test": Conversation.objects.create(
            contact=tester, channel=sim, last_activity_at=now, unread_count=2, needs_attention=True
        ),
    }


def test_test_chats_are_left_out_of_the_summary_by_default(boss: User, chats: dict[str, Conversation]) -> None:
    summary = console_summary(user=boss)

    assert summary["total"] == 1
    assert summary["unread"] == 1
    assert summary["needs_attention"] == 0
    assert summary["recent"] == [chats["customer"]]
    assert summary["attention"] == []
    assert summary["test_chats"] == 1


def test_test_chats_are_counted_on_request(boss: User, chats: dict[str, Conversation]) -> None:
    summary = console_summary(user=boss, include_test_chats=True)

    assert summary["total"] == 2
    assert summary["unread"] == 2
    assert summary["needs_attention"] == 1
    assert set(summary["recent"]) == set(chats.values())


def test_a_test_chat_is_still_reachable_by_id(boss: User, chats: dict[str, Conversation]) -> None:
    assert access_conversation_by_id(user=boss, conversation_id=chats["test"].pk) == chats["test"]


def test_the_console_marks_test_chats_and_hides_them_behind_a_toggle(
    client: Client, boss: User, chats: dict[str, Conversation]
) -> None:
    client.force_login(boss)
    client.cookies["django_language"] = "es"

    body = client.get("/").content.decode()
    assert 'data-test-toggle aria-pressed="false"' in body  # hidden until asked for (in the browser)
    assert "Chats de prueba" in body
    rows = client.get("/api/conversations/").json()["results"]
    assert {row["contact"]["name"]: row["is_test"] for row in rows} == {"Laura": False, "Probador": True}


def test_the_conversation_admin_lists_customers_only_by_default(
    client: Client, boss: User, chats: dict[str, Conversation]
) -> None:
    client.force_login(boss)
    client.cookies["django_language"] = "en"

    body = client.get("/admin/conversations/conversation/").content.decode()
    assert "Laura" in body and "Probador" not in body
    assert "Customers only" in body and "Only test chats" in body  # the filter, its default selected

    body = client.get("/admin/conversations/conversation/?test_chats=only").content.decode()
    assert "Probador" in body and "Laura" not in body
