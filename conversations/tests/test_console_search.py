"""The chat list's search: walking the recent chats in list order and asking the indexes for the rest
give the same chats, in the list's order, as a plain scan of everything; page after page; for the
chats the user may see only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from accounts.models import ChatRole, Role, User
from conversations.models import Channel, Contact, Conversation, Message, MessageSearchText
from conversations.selectors import conversation_ids_matching, conversation_list_filtered
from conversations.services import search_index

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


# --------------------------------------------------------------------------- the full-text index's own table


@pytest.fixture
def no_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Searches read only the messages above the newest copied one (the index answers for the rest)."""
    monkeypatch.setattr(search_index, "CATCH_UP_OVERLAP", 0)


def _copy(*, first: int | None = None) -> int:
    """Copy the texts of all the messages (or of the ``first`` ones) under the full-text index."""
    if first is None:
        return search_index.search_index_catch_up()
    return search_index.search_index_catch_up(batch=first, max_batches=1)


@pytest.mark.parametrize("query", ["granito", "cuarzo", "quiero negro", "nadie"])
@pytest.mark.parametrize("copied", ["none", "half", "all"])
def test_messages_are_found_whether_or_not_they_were_copied_under_the_index(
    query: str, copied: str, no_overlap: None
) -> None:
    _world()
    if copied != "none":
        _copy(first=15 if copied == "half" else None)
    admin = User.objects.create_superuser("root", password="x")

    found = conversation_ids_matching(conversation_list_filtered(user=admin), query=query, limit=10, window=3)

    assert found == _expected(query)[:10]


def test_the_copy_takes_every_text_once_and_goes_on_where_it_stopped() -> None:
    chats = _world()
    Message.objects.create(conversation=chats[0], direction="in", kind="image", text="", provider="meta")
    if not search_index.search_index_enabled():
        assert _copy() == 0
        assert not MessageSearchText.objects.exists()  # no FULLTEXT index on this database: nothing to fill
        return

    assert search_index.search_index_catch_up(batch=10, max_batches=1) == 10
    assert _copy() == 20  # the rest, and the image without text is left out
    assert _copy() == 0  # already there: the overlap is read again and skipped
    copies = dict(MessageSearchText.objects.values_list("message_id", "text"))
    assert copies == dict(Message.objects.exclude(text="").values_list("pk", "text"))
    assert set(MessageSearchText.objects.values_list("conversation_id", flat=True)) == {c.pk for c in chats}

    Message.objects.filter(conversation=chats[0]).delete()
    assert not MessageSearchText.objects.filter(conversation_id=chats[0].pk).exists()


def test_a_copy_far_behind_makes_the_search_walk_the_chats(monkeypatch: pytest.MonkeyPatch, no_overlap: None) -> None:
    _world()
    monkeypatch.setattr(search_index, "UNINDEXED_LIMIT", 5)  # 30 messages not copied: too many to read directly
    admin = User.objects.create_superuser("root", password="x")

    found = conversation_ids_matching(conversation_list_filtered(user=admin), query="granito", limit=10, window=3)

    assert search_index.unindexed_chats_matching("granito") is None
    assert found == _expected("granito")[:10]


def test_the_message_table_itself_has_no_fulltext_index() -> None:
    """InnoDB applies a FULLTEXT index at each commit: on the message table it stalled the pipeline."""
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("only MySQL/MariaDB have FULLTEXT indexes")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.statistics"
            " WHERE table_schema = DATABASE() AND index_type = 'FULLTEXT'"
        )
        tables = {row[0] for row in cursor.fetchall()}
    assert Message._meta.db_table not in tables
    assert MessageSearchText._meta.db_table in tables


def test_the_periodic_copy_goes_in_short_statements_and_rests_between_them() -> None:
    """One statement for ten seconds of messages at 80 messages/s kept MariaDB busy for 50-120 ms, and every
    reply of that moment waited behind it: the periodic pass copies a few ids at a time and rests between."""
    _world()
    ticks = iter([0.0, 0.004, 1.0, 1.006, 2.0])  # each statement's start, and its end but for the last one
    slept: list[float] = []

    copied = search_index.search_index_catch_up(batch=10, rest=2.0, clock=lambda: next(ticks), sleep=slept.append)

    if not search_index.search_index_enabled():
        assert (copied, slept) == (0, [])  # no FULLTEXT index on this database: nothing to copy, no rest
        return
    assert copied == 30
    assert slept == pytest.approx([0.008, 0.012])  # twice what each statement took; none after the last
    assert MessageSearchText.objects.count() == 30


def test_a_copy_pass_still_running_makes_the_next_one_skip() -> None:
    from conversations.tasks import search_index_task
    from whatsapp_ia.locks import conversation_lock

    _world()
    with conversation_lock("search-index", 0) as held:  # a pass still running (a backlog after an upgrade)
        assert held
        assert search_index_task() == 0
    assert not MessageSearchText.objects.exists()

    assert search_index_task() == (30 if search_index.search_index_enabled() else 0)
