"""Reads of conversations, always through the user's visibility (conversations.visibility)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from conversations.models import (
    Contact,
    Conversation,
    ConversationStatus,
    Message,
    MessageSearchText,
    WebhookDelivery,
)
from conversations.services.search_index import unindexed_chats_matching
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


# Chat list order: newest activity first, then by id. Ascending ids match the (-last_activity_at)
# indexes as they are stored (InnoDB appends the primary key ascending), so MariaDB reads the
# first page straight from the index instead of sorting every visible chat.
CONVERSATION_ORDER = ("-last_activity_at", "id")
SEARCH_WINDOW = 100  # chats searched message by message before the full-text index is asked


def conversation_list_filtered(
    *,
    user: Any,
    status: str = "",
    role_id: int | None = None,
    unrouted: bool = False,
    unread: bool = False,
    attention: bool = False,
    channel_id: int | None = None,
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
    if channel_id is not None:
        conversations = conversations.filter(channel_id=channel_id)
    return conversations.order_by(*CONVERSATION_ORDER)


def _at_or_before(at: Any, pk: int) -> Q:
    """Chats up to (at, pk) in CONVERSATION_ORDER (NULL activity sorts last)."""
    if at is None:
        return Q(last_activity_at__isnull=False) | Q(last_activity_at__isnull=True, pk__lte=pk)
    return Q(last_activity_at__gt=at) | Q(last_activity_at=at, pk__lte=pk)


def _after(at: Any, pk: int) -> Q:
    """Chats after (at, pk) in CONVERSATION_ORDER: the complement of ``_at_or_before``."""
    if at is None:
        return Q(last_activity_at__isnull=True, pk__gt=pk)
    return Q(last_activity_at__lt=at) | Q(last_activity_at=at, pk__gt=pk) | Q(last_activity_at__isnull=True)


def _order_key(row: tuple[Any, int]) -> tuple[bool, float, int]:
    """A (last_activity_at, pk) row's place in CONVERSATION_ORDER, as a sort key."""
    at, pk = row
    return (at is None, -at.timestamp() if at is not None else 0.0, pk)


# The search has two sources, each asked for the first ``limit`` chats of the list in order, then
# merged: the chats whose contact matches (alias, profile name, number: ``_contact_rows``) and the
# chats with a matching message. The messages are searched by walking the most recent chats in list
# order (``_window_bound``), stopping at a full page, which is cheap for a common word; what the walk
# leaves open is read through the FULLTEXT index for a rare one (``_message_candidates``).
CONTACT_WINDOW = 2_000  # newest chats walked for a matching contact first, for a user who sees every chat
COMMON_SAMPLE = 100  # the most recent chats that tell whether a word is common in messages
COMMON_SHARE = 0.05  # a word in this share of them is common: walking finds a page sooner than the index

Row = tuple[Any, int]  # (last_activity_at, pk)


def _message_match(query: str) -> Q:
    """Chats with a message whose text contains ``query`` (checked chat by chat, stopping at the first)."""
    return Q(Exists(Message.objects.filter(conversation_id=OuterRef("pk"), text__icontains=query)))


def _window_bound(after: Q | None, window: int) -> Row | None:
    """The ``window``-th chat of all (after the page's cursor) in list order; None when fewer are left."""
    scope = Conversation.objects.filter(after or Q()).order_by(*CONVERSATION_ORDER)
    rows = list(scope.values_list("last_activity_at", "pk")[window - 1 : window])
    return tuple(rows[0]) if rows else None


def conversation_ids_matching(
    conversations: QuerySet[Conversation],
    *,
    query: str,
    limit: int,
    window: int = SEARCH_WINDOW,
    contact_window: int = 0,
    after: Q | None = None,
) -> list[int]:
    """The first ``limit`` chat ids of ``conversations`` (ordered) whose contact or messages contain ``query``.

    ``after`` is the page cursor's condition alone (``conversations`` already has it): the windows of
    recent chats are counted from there. The contacts are searched first; when they fill a page, the
    messages are searched only among the chats before the page's last one. ``contact_window``: walk
    that many of the newest chats for a matching contact before asking the index (for a user who sees
    every chat, a common name fills a page there at once; an agent's chats are a fraction of them).
    """
    query = query.strip()[:100]
    if not query:
        return [pk for (pk,) in _list_rows(conversations.values_list("pk")[:limit])]
    by_contact = _contact_rows(
        conversations, query, limit=limit, bound=_window_bound(after, contact_window) if contact_window else None
    )
    stop = by_contact[limit - 1] if len(by_contact) >= limit else None
    by_message = _first_matches(
        conversations.filter(_at_or_before(*stop)) if stop else conversations,
        _message_match(query),
        limit=limit,
        bound=_window_bound(after, window),
        stop=stop,
        candidates=lambda: _message_candidates(query),
    )
    rows = sorted(set(by_contact) | set(by_message), key=_order_key)
    return [pk for _, pk in rows[:limit]]


@dataclass(frozen=True)
class _Candidates:
    """What an index says about the chats beyond the walked window: ``walk`` on in list order (a common
    word: a page comes soon), or only ``ids`` (a Q on Conversation) can match; ``exact`` when every one
    of them matches (else the search's own condition checks them again)."""

    walk: bool = False
    ids: Q | None = None
    exact: bool = False


WALK_ON = _Candidates(walk=True)


def _first_matches(
    conversations: QuerySet[Conversation],
    match: Q,
    *,
    limit: int,
    bound: Row | None,
    candidates: Callable[[], _Candidates | None],
    stop: Row | None = None,
) -> list[Row]:
    """The first ``limit`` (last_activity_at, pk) rows of ``conversations`` that ``match``, in list order.

    The chats up to ``bound`` are walked in list order (the database stops at a full page). The rest,
    if needed, comes from ``candidates()`` (None: nothing else can match). ``stop``: the caller needs
    nothing after this row (``conversations`` ends there).
    """
    walk = conversations.filter(match)
    near = walk.filter(_at_or_before(*bound)) if bound is not None else walk
    found = _list_rows(near.values_list("last_activity_at", "pk")[:limit])
    covered = bound is None or (stop is not None and _order_key(bound) >= _order_key(stop))
    if len(found) >= limit or covered:
        return found
    rest = candidates()
    if rest is None:
        return found
    if rest.walk:
        beyond = walk.filter(_after(*bound))
        return found + _list_rows(beyond.values_list("last_activity_at", "pk")[: limit - len(found)])
    return found + _candidate_rows(conversations.filter(_after(*bound)), match, rest, limit=limit - len(found))


def _candidate_rows(conversations: QuerySet[Conversation], match: Q, rest: _Candidates, *, limit: int) -> list[Row]:
    """The first ``limit`` rows of ``conversations`` among an index's candidates (a few thousand chats at
    most, given by id): read by key and ordered here (walking the activity index for them would read
    every chat the user may see)."""
    chosen = conversations.filter(rest.ids) if rest.exact else conversations.filter(rest.ids).filter(match)
    rows = _list_rows(chosen.order_by().values_list("last_activity_at", "pk"), plan=_MARIADB_CANDIDATES_PLAN)
    rows.sort(key=_order_key)
    return rows[:limit]


def _one_indexed_word(query: str) -> bool:
    """The index's answer is exactly the search's (a word it matches by its beginning is a substring)."""
    return " " not in query and not _FULLTEXT_UNSAFE.search(query) and len(query) >= 3


def _contact_rows(conversations: QuerySet[Conversation], query: str, *, limit: int, bound: Row | None) -> list[Row]:
    """The first ``limit`` rows of ``conversations`` whose contact matches ``query``, in list order.

    MySQL/MariaDB: names through the FULLTEXT index, in one query that the database orders (a name
    5,000 contacts share costs about as much as a rare one: no chat of the list is walked for it);
    numbers by their digits (a scan of the contacts alone), whose few chats are read by key. Elsewhere,
    and for words too short for the index, the list is walked in order. With a ``bound``, the chats up
    to it are walked first, and the indexes answer for the chats after it only.
    """
    match = _contact_q(query)
    rows_of = ("last_activity_at", "pk")
    against, digits = _fulltext_against(query), _digits_query(query)
    if connection.vendor != "mysql" or not (against or digits):
        return _list_rows(conversations.filter(match).values_list(*rows_of)[:limit])
    rows: list[Row] = []
    if bound is not None:
        near = conversations.filter(match).filter(_at_or_before(*bound))
        rows = _list_rows(near.values_list(*rows_of)[:limit])
        if len(rows) >= limit:
            return rows
        conversations = conversations.filter(_after(*bound))
    if against:
        table, quote = Contact._meta.db_table, connection.ops.quote_name
        names = RawSQL(  # noqa: S611 - the words are a parameter
            f"SELECT {quote('id')} FROM {quote(table)}"  # noqa: S608 - names from the model
            f" WHERE MATCH({quote('alias')}, {quote('profile_name')}) AGAINST (%s IN BOOLEAN MODE)",
            [against],
        )
        named = conversations.filter(contact_id__in=names)
        if not _one_indexed_word(query):  # several words: the index finds them apart, in any order
            named = named.filter(match)
        rows += _list_rows(named.values_list(*rows_of)[:limit], plan=_MARIADB_CANDIDATES_PLAN)
    if digits:
        numbers = Q(phone__contains=digits) | Q(external_id__contains=digits)
        ids = list(Contact.objects.filter(numbers).values_list("pk", flat=True)[: MAX_SEARCH_CANDIDATES + 1])
        if len(ids) > MAX_SEARCH_CANDIDATES:  # a few digits many numbers have: a page comes soon in order
            rows += _list_rows(conversations.filter(match).values_list(*rows_of)[:limit])
        elif ids:
            rows += _candidate_rows(
                conversations, match, _Candidates(ids=Q(contact_id__in=ids), exact=True), limit=limit
            )
    return sorted(set(rows), key=_order_key)[:limit]


def _message_candidates(query: str) -> _Candidates | None:
    """The chats that may have a matching message. A word common in the most recent chats is found
    sooner by walking on (the index would list hundreds of thousands of messages); a rare one through
    the FULLTEXT index (MySQL/MariaDB: MessageSearchText, plus the messages not copied there yet)."""
    if connection.vendor != "mysql":
        return WALK_ON
    sample = list(Conversation.objects.order_by(*CONVERSATION_ORDER).values_list("pk", flat=True)[:COMMON_SAMPLE])
    common = (
        Message.objects.filter(conversation_id__in=sample, text__icontains=query)
        .order_by()
        .values("conversation_id")
        .distinct()
    )
    if len(common) >= COMMON_SAMPLE * COMMON_SHARE:
        return WALK_ON
    chats = _fulltext_ids(MessageSearchText, "conversation_id", ("text",), query)
    recent = unindexed_chats_matching(query)  # the index is filled behind the pipeline
    if chats is None or recent is None:
        return WALK_ON
    chats |= recent
    if len(chats) > MAX_SEARCH_CANDIDATES:
        return WALK_ON
    if not chats:
        return None
    return _Candidates(ids=Q(pk__in=chats), exact=_one_indexed_word(query))


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
        rows = cursor.fetchall()
    if not settings.USE_TZ:
        return [tuple(row) for row in rows]
    # A plain cursor gives MySQL's naive UTC datetimes; the ORM would make them aware.
    return [
        tuple(v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v for v in row) for row in rows
    ]


MAX_SEARCH_CANDIDATES = 20_000


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
