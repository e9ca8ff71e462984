"""Which failures are worth trying again: one pure function, used by every retrying step.

Transient: the database was busy or its connection broke (SQLite "database is locked",
MySQL "gone away", lost connection, deadlock, lock wait timeout), a network connection
was reset or timed out, or a provider said so (ProviderError.transient: 429 and 5xx). Everything
else (a bug, bad data) fails the same way every time: it is given up at once.
"""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from conversations.providers.base import ProviderError

# MySQL/MariaDB error codes that go away by themselves.
TRANSIENT_MYSQL_CODES = frozenset(
    {
        1205,  # lock wait timeout exceeded
        1213,  # deadlock found when trying to get lock
        2002,  # can't connect through socket
        2003,  # can't connect to server
        2006,  # server has gone away
        2013,  # lost connection during query
        4031,  # the client was disconnected by the server because of inactivity
    }
)
TRANSIENT_DB_MESSAGES = (
    "database is locked",
    "database table is locked",
    "gone away",
    "lost connection",
    "connection reset",
    "connection refused",
    "deadlock",
    "lock wait timeout",
    "connection already closed",
)


def _one_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ProviderError):
        return exc.transient
    # Django's wrappers, and the drivers' own (sqlite3, MySQLdb) when they come unwrapped.
    name = type(exc).__name__
    if isinstance(exc, InterfaceError) or name == "InterfaceError":
        return True  # the connection is closed or broken: a new one will do
    if isinstance(exc, OperationalError) or name == "OperationalError":
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in TRANSIENT_MYSQL_CODES:
            return True
        text = str(exc).lower()
        return any(fragment in text for fragment in TRANSIENT_DB_MESSAGES)
    # ConnectionResetError, BrokenPipeError, ConnectionRefusedError ..., socket timeouts, and a task
    # stopped by its soft time limit (a slow provider or model: bounded by the attempts like the rest).
    return isinstance(exc, ConnectionError | TimeoutError | SoftTimeLimitExceeded)


def is_transient_error(exc: BaseException) -> bool:
    """True when trying the same work again later may succeed (looks through `raise ... from` causes too)."""
    current: BaseException | None = exc
    for _depth in range(10):
        if current is None:
            return False
        if _one_is_transient(current):
            return True
        current = current.__cause__
    return False


def error_reason(exc: BaseException, *, limit: int = 1000) -> str:
    """A one-line reason for admins and agents: the exception's type and message."""
    text = str(exc).strip().replace("\n", " ")
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason[:limit]


def retry_delay(attempts: int) -> float:
    """Seconds before attempt `attempts + 1` of a delivery or an inbound message: exponential, capped."""
    base = settings.PIPELINE_BACKOFF_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    return float(min(base, settings.PIPELINE_BACKOFF_MAX_SECONDS))


def db_connection_recover() -> None:
    """After a failed query outside a transaction: replace the connection if it broke (MySQL "gone away")."""
    if connection.in_atomic_block or connection.connection is None or not connection.errors_occurred:
        return
    if connection.is_usable():
        connection.errors_occurred = False
    else:
        connection.close()
