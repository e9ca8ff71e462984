"""The console's full-text index of message texts (MySQL/MariaDB), filled behind the pipeline.

InnoDB applies a FULLTEXT index's rows at each commit. On the message table itself that work sat
inside every turn of the pipeline and stalled it (80 messages/s on MariaDB: p95 602 ms, p99 924 ms;
without the index p95 33 ms). So the index lives on a table of its own, :class:`MessageSearchText`,
that a periodic task fills in batches (:func:`search_index_catch_up`, every SEARCH_INDEX_INTERVAL
seconds): ``INSERT IGNORE ... SELECT`` statements over ranges of message ids, off the pipeline's path.
The periodic pass copies PASS_BATCH ids per statement and rests between them (PASS_REST): one statement
for ten seconds of messages at 80 messages/s (about 1,600 rows) kept MariaDB busy for 50-120 ms, and
every reply of that moment waited behind it (bench/e2e_pipeline.sh's late-reply bursts every 10 s).

The search never misses a message for being too new: the messages above :func:`search_index_low_id`
(not copied yet, or copied moments ago) are read from the message table itself, a short primary-key
range (:func:`unindexed_chats_matching`). Ranges are read again from ``CATCH_UP_OVERLAP`` ids below
the newest copied one, because a transaction that took a smaller id may commit after a larger one
was copied; ``INSERT IGNORE`` skips the rows already there. A message's text is written once (the
pipeline and the console never change it), and deleting a message deletes its copy (CASCADE).

Other databases have no FULLTEXT index: the table stays empty and these functions do nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from time import sleep as time_sleep

from django.db import connection
from django.db.models import Max, Min

from conversations.models import Message, MessageSearchText

__all__ = [
    "CATCH_UP_BATCH",
    "CATCH_UP_OVERLAP",
    "PASS_BATCH",
    "PASS_REST",
    "UNINDEXED_LIMIT",
    "search_index_catch_up",
    "search_index_enabled",
    "search_index_low_id",
    "unindexed_chats_matching",
]

#: Message ids copied per statement.
CATCH_UP_BATCH = 5_000
#: Message ids copied per statement by the periodic pass (search_index_task): statements of a few
#: milliseconds, so the pipeline sharing MariaDB's core never waits long behind one.
PASS_BATCH = 250
#: The periodic pass rests this many times as long as each statement took before the next one.
PASS_REST = 2.0
#: Ids below the newest copied one that each pass (and each search) reads again.
CATCH_UP_OVERLAP = 2_000
#: The most message ids a search reads from the message table itself; beyond it (the copy is far
#: behind, e.g. just after an upgrade), the search walks the chats in order instead.
UNINDEXED_LIMIT = 20_000


def search_index_enabled() -> bool:
    """Only MySQL/MariaDB have the FULLTEXT index (migration 0013)."""
    return connection.vendor == "mysql"


def search_index_low_id() -> int:
    """Messages with a larger id may not be in the index yet: the search reads them directly."""
    newest = MessageSearchText.objects.aggregate(newest=Max("message_id"))["newest"] or 0
    return max(newest - CATCH_UP_OVERLAP, 0)


def search_index_catch_up(
    *,
    batch: int = CATCH_UP_BATCH,
    max_batches: int = 200,
    rest: float = 0.0,
    clock: Callable[[], float] = monotonic,
    sleep: Callable[[float], None] = time_sleep,
) -> int:
    """Copy the texts of the messages not in the index yet, ``batch`` ids at a time; returns how many.

    At most ``max_batches`` statements per call (the next call goes on where this one stopped).
    ``rest``: after each statement but the last, sleep ``rest`` times as long as it took (the periodic
    task: PASS_REST).
    """
    if not search_index_enabled():
        return 0
    bounds = Message.objects.aggregate(first=Min("pk"), newest=Max("pk"))
    if bounds["newest"] is None:
        return 0
    newest, low = bounds["newest"], max(search_index_low_id(), bounds["first"] - 1)
    quote = connection.ops.quote_name
    search, message = quote(MessageSearchText._meta.db_table), quote(Message._meta.db_table)
    sql = (
        f"INSERT IGNORE INTO {search} ({quote('message_id')}, {quote('conversation_id')}, {quote('text')})"  # noqa: S608
        f" SELECT {quote('id')}, {quote('conversation_id')}, {quote('text')} FROM {message}"
        f" WHERE {quote('id')} > %s AND {quote('id')} <= %s AND {quote('text')} <> ''"
    )
    added = 0
    with connection.cursor() as cursor:
        for _ in range(max_batches):
            if low >= newest:
                break
            high = min(low + batch, newest)
            started = clock()
            cursor.execute(sql, [low, high])
            added += max(cursor.rowcount, 0)
            low = high
            if rest and low < newest:
                sleep(rest * (clock() - started))
    return added


def unindexed_chats_matching(query: str) -> set[int] | None:
    """The chats with a message not yet in the index whose text contains ``query``; None when there
    are more such messages than a search should read (UNINDEXED_LIMIT)."""
    low = search_index_low_id()
    newest = Message.objects.aggregate(newest=Max("pk"))["newest"] or 0
    if newest - low > UNINDEXED_LIMIT:
        return None
    rows = (
        Message.objects.filter(pk__gt=low, text__icontains=query)
        .order_by()
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    return set(rows)
