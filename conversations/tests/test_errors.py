"""Which failures are retried: the one classification every retrying step uses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError

from conversations.providers.base import ProviderError
from conversations.services.errors import error_reason, is_transient_error


def _real_sqlite_lock_error(tmp_path: Path) -> sqlite3.OperationalError:
    """What SQLite raises when another connection holds the write lock past the busy timeout."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        waiter.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        waiter.close()
    raise AssertionError("the write was not blocked")


def test_a_real_sqlite_lock_error_is_transient_raw_and_as_django_wraps_it(tmp_path: Path) -> None:
    raw = _real_sqlite_lock_error(tmp_path)
    assert "database is locked" in str(raw)
    assert is_transient_error(raw)
    wrapped = OperationalError(*raw.args)
    wrapped.__cause__ = raw
    assert is_transient_error(wrapped)


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("database is locked"),
        OperationalError(2006, "MySQL server has gone away"),
        OperationalError(2013, "Lost connection to MySQL server during query"),
        OperationalError(1213, "Deadlock found when trying to get lock; try restarting transaction"),
        OperationalError(1205, "Lock wait timeout exceeded; try restarting transaction"),
        InterfaceError("connection already closed"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError("timed out"),
        SoftTimeLimitExceeded(),
        ProviderError("send failed: HTTP 503", code="http_503", transient=True, http_status=503),
    ],
)
def test_transient_errors(exc: BaseException) -> None:
    assert is_transient_error(exc)


@pytest.mark.parametrize(
    "exc",
    [
        RecursionError("maximum recursion depth exceeded"),
        ValueError("bad data"),
        KeyError("entry"),
        IntegrityError("UNIQUE constraint failed"),
        OperationalError("no such table: conversations_message"),
        DatabaseError("value too long"),
        ProviderError("(#131026) Message undeliverable", code="131026", transient=False, http_status=400),
    ],
)
def test_permanent_errors(exc: BaseException) -> None:
    assert not is_transient_error(exc)


def test_an_error_raised_from_a_transient_cause_is_transient() -> None:
    try:
        try:
            raise OperationalError("database is locked")
        except OperationalError as inner:
            raise RuntimeError("could not store the message") from inner
    except RuntimeError as outer:
        assert is_transient_error(outer)


def test_error_reason_names_the_type_and_keeps_one_line() -> None:
    assert error_reason(RecursionError("maximum recursion depth exceeded\nwhile decoding")) == (
        "RecursionError: maximum recursion depth exceeded while decoding"
    )
    assert error_reason(KeyError()) == "KeyError"
    assert len(error_reason(ValueError("x" * 5000))) == 1000
