"""Reads of conversations, always through the user's visibility (conversations.visibility)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from conversations.models import Contact, Conversation, ConversationStatus, Message, WebhookDelivery
from conversations.visibility import conversation_visibility_q  # the one rule: selectors, broadcaster, consumer

# Characters with a meaning in MySQL's boolean full-text syntax: searched words are plain words.
_FULLTEXT_UNSAFE = re.compile(r"[+\-<>()~*\"@]")

# Channels whose chats are tests, not customers: the bot simulator ("Try the bot", simulate_chat).
TEST_CHANNEL_PROVIDERS = ("simulator",)


def conversation_test_q() -> Q:
    """The simulator's test chats."""
    return Q(channel__provider__in=TEST_CHANNEL_PROVIDERS)


def conversation_list_for_user(*, user: Any, include_test_chats: bool = True) -> QuerySet[Conversation]:
    """The chats ``user`` may see, most recent first; ``include_test_chats=False`` leaves the simulator's out."""
    conversations = Conversation.objects.filter(conversation_visibility_q(user=user))
    if not include_test_chats:
        conversations = conversations.exclude(conversation_test_q())
    return conversations.select_related("contact", "channel", "assigned_to").order_by("-last_activity_at")


STATUS_FILTERS = ("bot", "ai", "human", "closed")


def _search_words(query: str) -> list[str]:
    return [word for word in query.split() if word][:8]


def _fulltext_against(query: str) -> str:
    """A MySQL boolean full-text query: every word (3 characters or more, as InnoDB indexes them) as a prefix."""
    words = [w for w in _FULLTEXT_UNSAFE.sub(" ", " ".join(_search_words(query))).split() if len(w) >= 3]
    return " ".join(f"+{w}*" for w in words)


def _fulltext_ids(model: type, id_column: str, columns: tuple[str, ...], query: str) -> set[int] | None:
    """Ids (``id_column``) of ``model`` rows whose FULLTEXT ``columns`` have every word of ``query``; None when
    this database has no full-text index (not MySQL) or the query has no indexable word."""
    against = _fulltext_against(query)
    if connection.vendor != "mysql" or not against:
        return None
    quote = connection.ops.quote_name
    fields = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    sql = (
        f"SELECT DISTINCT {quote(id_column)} FROM {quote(model._meta.db_table)}"  # noqa: S608 - names from the model
        f" WHERE MATCH({fields}) AGAINST (%s IN BOOLEAN MODE) LIMIT {MAX_SEARCH_CANDIDATES + 1}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [against])
        return {row[0] for row in cursor.fetchall()}


def _contact_q(query: str, *, prefix: str = "contact__") -> Q:
    """Alias or profile name containing ``query``, or the number containing its digits (on Contact: prefix="")."""
    contact = Q(**{f"{prefix}alias__icontains": query}) | Q(**{f"{prefix}profile_name__icontains": query})
    digits = _digits_query(query)
    if digits:
        contact |= Q(**{f"{prefix}phone__contains": digits}) | Q(**{f"{prefix}external_id__contains": digits})
    return contact


def _digits_query(query: str) -> str:
    """The digits of a query that is a phone number ("+57 300-111"), else ''."""
    digits = "".join(ch for ch in query if ch.isdigit())
    return digits if digits and len(digits) >= len(query.replace("+", "").replace(" ", "").replace("-", "")) else ""


def message_text_match(query: str) -> QuerySet[Message]:
    """The conversation ids (a subquery) with a message whose text contains ``query``."""
    return Message.objects.filter(text__icontains=query).values("conversation_id")


def conversation_search_q(query: str) -> Q:
    """Chats whose contact's alias, profile name or number, or one of whose messages, contains ``query``."""
    query = query.strip()[:100]
    return _contact_q(query) | Q(pk__in=message_text_match(query))


# Chat list order: newest activity first, then by id. Ascending ids match the (-last_activity_at)
# indexes as they are stored (InnoDB appends the primary key ascending), so MariaDB reads the
# first page straight from the index instead of sorting every visible chat.
CONVERSATION_ORDER = ("-last_activity_at", "id")
SEARCH_WINDOW = 300  # chats searched message by message before the full-text index is asked


def conversation_list_filtered(
    *,
    user: Any,
    status: str = "",
    role_id: int | None = None,
    unrouted: bool = False,
    unread: bool = False,
    attention: bool = False,
) -> QuerySet[Conversation]:
    """The console's chat list: what ``user`` may see, narrowed by the filters, in CONVERSATION_ORDER.

    No joins: the list reads one table and its indexes (``conversation_ids_matching`` adds the search).
    """
    from accounts.models import ChatRole

    conversations = Conversation.objects.filter(conversation_visibility_q(user=user))
    if status:
        conversations = conversations.filter(status=status)
    if role_id is not None:
        conversations = conversations.filter(
            Exists(ChatRole.objects.filter(conversation_id=OuterRef("pk"), role_id=role_id))
        )
    if unrouted:
        conversations = conversations.filter(~Exists(ChatRole.objects.filter(conversation_id=OuterRef("pk"))))
    if unread:
        conversations = conversations.filter(unread_count__gt=0)
    if attention:
        conversations = conversations.filter(needs_attention=True)
    return conversations.order_by(*CONVERSATION_ORDER)


def _at_or_before(at: Any, pk: int) -> Q:
    """Chats up to (at, pk) in CONVERSATION_ORDER (NULL activity sorts last)."""
    if at is None:
        return Q(last_activity_at__isnull=False) | Q(last_activity_at__isnull=True, pk__lte=pk)
    return Q(last_activity_at__gt=at) | Q(last_activity_at=at, pk__lte=pk)


def conversation_ids_matching(
    conversations: QuerySet[Conversation],
    *,
    query: str,
    limit: int,
    window: int = SEARCH_WINDOW,
    after: Q | None = None,
) -> list[int]:
    """The first ``limit`` chat ids of ``conversations`` (ordered) whose contact or messages contain ``query``.

    A word many customers write ("precio") fills a page from the most recent chats: the chats
    among the ``window`` most recent of all (after the page's cursor, ``after``) that the list
    keeps are searched one by one (their contacts, and their messages through the per-chat index),
    so the cost is bounded however selective the list's filters are. When they do not fill the
    page (a rare word, a name, an order number), the chats that have it anywhere are found first
    (MySQL/MariaDB: the FULLTEXT indexes, which match words by their beginning; elsewhere a
    substring scan), then the list's own filters and order apply to those. Either way the ids
    are the first matches in the list's order.
    """
    query = query.strip()[:100]
    if not query:
        return [pk for (pk,) in _list_rows(conversations.values_list("pk")[:limit])]
    scope = Conversation.objects.filter(after or Q()).order_by(*CONVERSATION_ORDER)
    boundary = list(scope.values_list("last_activity_at", "pk")[window - 1 : window])
    in_window = conversations.filter(_at_or_before(*boundary[0])) if boundary else conversations
    recent = _list_rows(in_window.values_list("pk", "contact_id"))
    contact_hits = set(
        Contact.objects.filter(pk__in={contact for _, contact in recent})
        .filter(_contact_q(query, prefix=""))
        .values_list("pk", flat=True)
    )
    message_hits = set(
        Message.objects.filter(conversation_id__in=[pk for pk, _ in recent], text__icontains=query)
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    ids = [pk for pk, contact in recent if contact in contact_hits or pk in message_hits][:limit]
    if len(ids) >= limit or not boundary:  # a full page, or the window held every chat left
        return ids
    matching = _search_candidates(query)
    if matching is None:  # too many to list: let the database join it all
        return list(conversations.filter(conversation_search_q(query)).values_list("pk", flat=True)[:limit])
    contacts, chats = matching
    if not contacts and not chats:
        return []
    # Few chats: read them by key, then order them here (walking the activity index for a handful
    # of chats would read every chat the user may see).
    candidates = conversations.filter(Q(contact_id__in=contacts) | Q(pk__in=chats)).order_by()
    rows = _list_rows(candidates.values_list("last_activity_at", "pk"), plan=_MARIADB_CANDIDATES_PLAN)
    rows.sort(key=lambda row: (row[0] is None, -row[0].timestamp() if row[0] else 0, row[1]))
    return [pk for _, pk in rows[:limit]]


# MariaDB estimates the visibility subqueries (a chat's roles, "has no role") as if it read every
# chat, so it materializes them: it reads the whole role table on every page (measured: 40 ms at
# 100,000 chats, 70,000 roles). Checked chat by chat while it walks the activity index instead, the
# first page costs under a millisecond. MySQL has no SET STATEMENT; it runs the plain query.
_MARIADB_LIST_PLAN = "SET STATEMENT optimizer_switch='materialization=off,exists_to_in=off' FOR "
# A search's few thousand candidate chats, given by id: the long id lists stay materialized (MariaDB
# turns them into a table), the visibility stays checked chat by chat.
_MARIADB_CANDIDATES_PLAN = "SET STATEMENT optimizer_switch='exists_to_in=off' FOR "


def _list_rows(queryset: QuerySet, *, plan: str = _MARIADB_LIST_PLAN) -> list[tuple[Any, ...]]:
    """The rows of a chat list ``values_list`` query, planned for a list read in index order on MariaDB."""
    if connection.vendor != "mysql" or not connection.mysql_is_mariadb:
        return [tuple(row) for row in queryset]
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (pk__in=[])
        return []
    with connection.cursor() as cursor:
        cursor.execute(plan + sql, params)
        return [tuple(row) for row in cursor.fetchall()]


MAX_SEARCH_CANDIDATES = 20_000


def _search_candidates(query: str) -> tuple[set[int], set[int]] | None:
    """(contact ids, chat ids) whose contact or messages contain ``query``; None when there are more than
    MAX_SEARCH_CANDIDATES of either."""
    contacts = _fulltext_ids(Contact, "id", ("alias", "profile_name"), query)
    if contacts is None:
        contacts = set(
            Contact.objects.filter(_contact_q(query, prefix="")).values_list("pk", flat=True)[
                : MAX_SEARCH_CANDIDATES + 1
            ]
        )
    elif digits := _digits_query(query):
        numbers = Q(phone__contains=digits) | Q(external_id__contains=digits)
        contacts |= set(Contact.objects.filter(numbers).values_list("pk", flat=True)[: MAX_SEARCH_CANDIDATES + 1])
    chats = _fulltext_ids(Message, "conversation_id", ("text",), query)
    if chats is None:
        chats = set(
            message_text_match(query).distinct()[: MAX_SEARCH_CANDIDATES + 1].values_list("conversation_id", flat=True)
        )
    if len(contacts) > MAX_SEARCH_CANDIDATES or len(chats) > MAX_SEARCH_CANDIDATES:
        return None
    return contacts, chats


def conversations_by_ids(ids: list[int]) -> list[Conversation]:
    """The chats, whole (contact, channel, assignee, roles), in the order of ``ids``."""
    rows = Conversation.objects.select_related("contact", "channel", "assigned_to").prefetch_related("roles")
    by_id = {c.pk: c for c in rows.filter(pk__in=ids)}
    return [by_id[pk] for pk in ids if pk in by_id]


def access_conversation_by_id(*, user: Any, conversation_id: int) -> Conversation:
    """The conversation if the user may see it; the same DoesNotExist for missing and forbidden."""
    return conversation_list_for_user(user=user).get(pk=conversation_id)


def console_summary(*, user: Any, include_test_chats: bool = False) -> dict[str, Any]:
    """Counts and lists for the console's home page.

    The simulator's test chats are left out of every count and list unless ``include_test_chats``;
    ``test_chats`` says how many there are either way, for the toggle that shows them.
    """
    listed = conversation_list_for_user(user=user, include_test_chats=include_test_chats)
    visible = Conversation.objects.filter(pk__in=listed.order_by().values("pk"))
    all_visible = Conversation.objects.filter(pk__in=conversation_list_for_user(user=user).order_by().values("pk"))
    by_status = dict(visible.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "total": sum(by_status.values()),
        "by_status": [(label, by_status.get(value, 0)) for value, label in ConversationStatus.choices],
        "unread": visible.filter(unread_count__gt=0).count(),
        "needs_attention": visible.filter(needs_attention=True).count(),
        "attention": list(listed.filter(needs_attention=True)[:10]),
        "recent": list(listed.exclude(last_activity_at__isnull=True)[:10]),
        "include_test_chats": include_test_chats,
        "test_chats": all_visible.filter(conversation_test_q()).count(),
        "rejected_deliveries": WebhookDelivery.objects.filter(state="rejected").count() if user.is_staff else None,
    }
