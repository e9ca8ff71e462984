"""A time limit for the statements of one block of code: a search a user typed must not hold a
database connection for seconds (a word common in other chats than the user's walks the whole list).

MySQL/MariaDB stop a statement after ``max_statement_time``; SQLite is asked, every few thousand
steps of its virtual machine, whether the deadline has passed (a progress handler). Either way the
statement fails and ``QueryTooSlow`` is raised; the connection stays usable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import InternalError, OperationalError, connection

_MARIADB_STATEMENT_TIMEOUT = 1969  # ER_STATEMENT_TIMEOUT
_MYSQL_EXECUTION_TIMEOUT = 3024  # ER_QUERY_TIMEOUT (MySQL's own name for the same limit)
# The same limit when MariaDB stops the statement inside InnoDB (a full-text read): the engine's
# HA_ERR_ABORTED_BY_USER, raised as an InternalError (seen about once in three CI runs).
_MARIADB_ABORTED_IN_ENGINE = 188
_TIMEOUT_CODES = (_MARIADB_STATEMENT_TIMEOUT, _MYSQL_EXECUTION_TIMEOUT, _MARIADB_ABORTED_IN_ENGINE)
_SQLITE_CHECK_EVERY = 1000  # virtual machine steps between two looks at the clock


class QueryTooSlow(Exception):
    """A statement ran past the block's time limit and was stopped."""


@contextmanager
def query_time_limit(seconds: float) -> Iterator[None]:
    """Stop any statement of the block that runs longer than ``seconds`` (0: no limit)."""
    if seconds <= 0 or connection.vendor not in ("mysql", "sqlite"):
        yield
        return
    if connection.vendor == "mysql":
        with _mysql_limit(seconds):
            yield
        return
    with _sqlite_limit(seconds):
        yield


@contextmanager
def _mysql_limit(seconds: float) -> Iterator[None]:
    variable = "max_statement_time" if connection.mysql_is_mariadb else "max_execution_time"
    value = seconds if connection.mysql_is_mariadb else int(seconds * 1000)
    with connection.cursor() as cursor:
        cursor.execute(f"SET SESSION {variable} = %s", [value])
    try:
        yield
    except (OperationalError, InternalError) as exc:
        if exc.args and exc.args[0] in _TIMEOUT_CODES:
            raise QueryTooSlow(str(exc)) from exc
        raise
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"SET SESSION {variable} = 0")


@contextmanager
def _sqlite_limit(seconds: float) -> Iterator[None]:
    connection.ensure_connection()
    raw = connection.connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _SQLITE_CHECK_EVERY)
    try:
        yield
    except OperationalError as exc:
        if "interrupted" in str(exc):
            raise QueryTooSlow(str(exc)) from exc
        raise
    finally:
        raw.set_progress_handler(None, 0)
