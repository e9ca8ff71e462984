"""query_time_limit: a statement past the block's time limit is stopped, the connection stays usable."""

from __future__ import annotations

import pytest
from django.db import connection

from whatsapp_ia.query_limits import QueryTooSlow, query_time_limit

pytestmark = pytest.mark.django_db

# Counts to ten million: seconds on any database, far past the limits below.
_SLOW = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10000000) SELECT COUNT(*) FROM c"


def _one() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def _slow() -> str:
    if connection.vendor == "mysql":  # MariaDB caps recursion (max_recursive_iterations): a cross join instead
        return "SELECT COUNT(*) FROM seq_1_to_100000 a, seq_1_to_100000 b"
    return _SLOW


def test_a_statement_past_the_limit_is_stopped_and_the_connection_stays_usable() -> None:
    with pytest.raises(QueryTooSlow), query_time_limit(0.2), connection.cursor() as cursor:
        cursor.execute(_slow())
    assert _one() == 1
    with query_time_limit(5):  # a quick statement under a limit runs as ever
        assert _one() == 1


def test_the_limit_ends_with_its_block() -> None:
    with query_time_limit(0.000001):  # past at once; SELECT 1 is too short to be looked at
        assert _one() == 1
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@SESSION.max_statement_time" if connection.mysql_is_mariadb else "SELECT 0")
            assert float(cursor.fetchone()[0]) == 0
    else:
        with connection.cursor() as cursor:  # no handler left behind: a long statement runs to its end
            cursor.execute(_SLOW.replace("10000000", "300000"))
            assert cursor.fetchone()[0] == 300000
