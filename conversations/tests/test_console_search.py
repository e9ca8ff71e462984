"""The chat list's search: walking the recent chats in list order and asking the indexes for the rest
give the same chats, in the list's order, as a plain scan of everything; page after page; for the
chats the user may see only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from accounts.models import ChatRole, Role, User
from conversations.models import Channel, Contact, Conversation, Message
from conversations.selectors import conversation_ids_matching, conversation_list_filtered

pytestmark = pytest.mark.django_db(transaction=True)  # MariaDB's FULLTEXT index sees committed rows only


def _world() -> list[Conversation]:
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="1")
    now = timezone.now()
    chats = []
    for n in range(30):
        contact = Contact.objects.create(
            provider="meta",
            external_id=f"57300000{n:04d}",
            phone=f"+57 300 000 {n:04d}",
            profile_name="Pedro Pérez" if n % 4 == 0 else "Ana Ruiz",
            alias="Laurita" if n % 5 == 1 else "",
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
    digits = "".join(ch for ch in query if ch.isdigit())
    number = digits if len(digits) == len(query.replace("+", "").replace(" ", "").replace("-", "")) else None
    ordered = Conversation.objects.order_by("-last_activity_at", "id").select_related("contact")
    return [
        c.pk
        for c in ordered
        if query.lower() in c.contact.profile_name.lower()
        or query.lower() in c.contact.alias.lower()
        or (number and number in c.contact.external_id)
        or c.messages.filter(text__icontains=query).exists()
    ]


QUERIES = ["Pedro", "Ana Ruiz", "laurita", "granito", "cuarzo", "0000012", "+57 300-000-0012", "nadie"]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("window", [3, 300])  # 3: the recent chats cannot fill the page, the indexes answer
def test_both_ways_of_searching_find_the_same_chats_in_order(query: str, window: int) -> None:
    _world()
    admin = User.objects.create_superuser("root", password="x")
    listed = conversation_list_filtered(user=admin)

    found = conversation_ids_matching(listed, query=query, limit=10, window=window, contact_window=window)

    assert found == _expected(query)[:10]


def _pages(user: User, query: str, *, size: int, window: int) -> list[list[int]]:
    """Every page of a search, each continuing after the last chat of the one before (as the API does)."""
    pages: list[list[int]] = []
    after = Q()
    while True:
        listed = conversation_list_filtered(user=user).filter(after)
        ids = conversation_ids_matching(
            listed, query=query, limit=size + 1, window=window, contact_window=window, after=after
        )
        pages.append(ids[:size])
        if len(ids) <= size:
            return pages
        last = Conversation.objects.get(pk=ids[size - 1])
        if last.last_activity_at is None:
            after = Q(last_activity_at__isnull=True, pk__gt=last.pk)
        else:
            at = last.last_activity_at
            after = (
                Q(last_activity_at__lt=at) | Q(last_activity_at=at, pk__gt=last.pk) | Q(last_activity_at__isnull=True)
            )


@pytest.mark.parametrize("query", ["Ana", "quiero", "0000", "laurita"])
@pytest.mark.parametrize("window", [2, 7, 300])
def test_pages_of_a_search_follow_one_another_without_gaps_or_repeats(query: str, window: int) -> None:
    _world()
    admin = User.objects.create_superuser("root", password="x")

    pages = _pages(admin, query, size=4, window=window)

    seen = [pk for page in pages for pk in page]
    assert seen == _expected(query) and len(seen) == len(set(seen))
    assert all(len(page) == 4 for page in pages[:-1])


@pytest.mark.parametrize("query", ["Pedro", "granito", "0000012"])
@pytest.mark.parametrize("window", [3, 300])
def test_an_agent_finds_only_the_chats_of_their_roles(query: str, window: int) -> None:
    chats = _world()
    sales, support = Role.objects.create(name="Ventas", keyword="ventas"), Role.objects.create(name="Soporte")
    for n, chat in enumerate(chats):
        ChatRole.objects.create(conversation=chat, role=sales if n % 2 == 0 else support)
    agent = User.objects.create_user("ana", password="x")
    agent.roles.add(sales)
    mine = {chat.pk for n, chat in enumerate(chats) if n % 2 == 0}

    found = conversation_ids_matching(conversation_list_filtered(user=agent), query=query, limit=50, window=window)

    assert found == [pk for pk in _expected(query) if pk in mine]
    assert found  # every query has a match among the agent's chats


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
