"""The chat list's search: searching the recent chats one by one and asking the indexes for the rest
give the same chats, in the list's order, as a plain scan of everything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from conversations.models import Channel, Contact, Conversation, Message
from conversations.selectors import conversation_ids_matching, conversation_list_filtered

pytestmark = pytest.mark.django_db(transaction=True)  # MariaDB's FULLTEXT index sees committed rows only


def _world() -> list[Conversation]:
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="1")
    now = timezone.now()
    chats = []
    for n in range(30):
        contact = Contact.objects.create(
            provider="meta", external_id=f"57300000{n:04d}", profile_name="Pedro Pérez" if n % 4 == 0 else "Ana Ruiz"
        )
        chat = Conversation.objects.create(
            contact=contact, channel=channel, last_activity_at=now - timedelta(minutes=n // 2) if n != 29 else None
        )
        words = "quiero granito negro" if n % 3 == 0 else "precio del cuarzo"
        Message.objects.create(conversation=chat, direction="in", kind="text", text=words, provider="meta")
        chats.append(chat)
    return chats


def _expected(query: str) -> list[int]:
    """Every chat whose name, number or messages contain the query, by a plain scan, in list order."""
    ordered = Conversation.objects.order_by("-last_activity_at", "id").select_related("contact")
    return [
        c.pk
        for c in ordered
        if query.lower() in c.contact.profile_name.lower()
        or query in c.contact.external_id
        or c.messages.filter(text__icontains=query).exists()
    ]


@pytest.mark.parametrize("query", ["Pedro", "granito", "cuarzo", "0000012", "nadie"])
@pytest.mark.parametrize("window", [3, 300])  # 3: the recent chats cannot fill the page, the indexes answer
def test_both_ways_of_searching_find_the_same_chats_in_order(query: str, window: int) -> None:
    _world()
    admin = User.objects.create_superuser("root", password="x")
    listed = conversation_list_filtered(user=admin)

    found = conversation_ids_matching(listed, query=query, limit=10, window=window)

    assert found == _expected(query)[:10]


def test_search_results_page_by_cursor_without_gaps_or_repeats() -> None:
    from django.test import Client

    chats = _world()
    channel, now = chats[0].channel, timezone.now()
    for n in range(60):  # 80 chats say "cuarzo": two pages
        contact = Contact.objects.create(provider="meta", external_id=f"57310000{n:04d}", profile_name="Eva")
        chat = Conversation.objects.create(contact=contact, channel=channel, last_activity_at=now - timedelta(hours=n))
        Message.objects.create(conversation=chat, direction="in", kind="text", text="cuarzo gris", provider="meta")
    admin = User.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(admin)

    seen: list[int] = []
    url: str | None = "/api/conversations/?q=cuarzo"
    pages = 0
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url, pages = page["next"], pages + 1

    assert seen == _expected("cuarzo") and len(seen) == len(set(seen)) == 80
    assert pages == 2
