"""Django's SQLite backend, with the processes that write one database file taking turns promptly.

The embedded default has several processes writing one SQLite file: the web server stores each
webhook POST, the pipeline runner stores and answers each message, Celery tasks roll up the
dashboard. SQLite lets one write at a time, and a writer that finds the file locked waits in its
busy handler, which sleeps 1, 2, 5, 10 ... then 100 ms between tries without ever queueing. A
process that writes back to back (the runner working through a backlog, one short transaction
after another) then keeps the lock nearly all the time, and another writer that happens to sleep
through each short gap waits for hundreds of milliseconds: webhook POSTs stalled for more than a
second at 80 messages/s (bench/sqlite_writers.py shows it in isolation).

So each write takes a lock on a file next to the database (``<database>-writers``, ``flock``)
before SQLite's own: from ``BEGIN IMMEDIATE`` to ``COMMIT`` or ``ROLLBACK`` for a transaction, and
around the statement for a write in autocommit mode (an INSERT, UPDATE, DELETE or REPLACE outside a
transaction). A writer that finds it taken tries again every half millisecond at most, so it gets
in at the first gap instead of sleeping through it (after a tenth of a second of waiting, every 5 ms
at most); SQLite's busy handler is left with nothing to wait for. The wait is bounded by the
connection's ``timeout`` (30 s by default, as SQLite's), after which the statement fails as SQLite's
would ("database is locked", a transient error the pipeline retries). The kernel frees the lock of a
process that dies. A lock file that cannot be opened (say, in a folder the process may not write to)
is logged once and the writes go on without it, as with Django's backend.

Reads take no lock (WAL lets them run beside a writer), nor does a transaction begun by hand with
``BEGIN DEFERRED`` that only reads (analytics.services.filters.summary_snapshot). An in-memory
database has a single connection and no file: nothing to share.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db.backends.sqlite3 import base

logger = logging.getLogger(__name__)
_warned: set[str] = set()  # lock files said once per process to be unavailable

#: The longest pause between two tries at a taken lock (seconds) while the wait is young; the first pauses are
#: shorter. After POLL_FAST_FOR seconds of waiting (a long transaction holds it), pauses grow to POLL_SLOW.
POLL_MAX = 0.0005
POLL_FAST_FOR = 0.1
POLL_SLOW = 0.005
_POLL_FIRST = 0.00005
#: A statement that writes in autocommit mode (comments and blanks before it allowed).
_WRITE = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class WritersLock:
    """The ``flock`` that one connection takes before it writes; see the module docstring.

    One per connection (so per thread): each opens the lock file itself, and ``flock`` locks of
    separate opens exclude each other, within a process as between processes. A copy inherited by
    a forked process is never unlocked there: it would unlock its parent's.
    """

    def __init__(
        self,
        path: str,
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.held = False
        self.unavailable = False  # the lock file could not be opened: writes go on without it
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int | None:
        """The lock file, open for reading (enough for ``flock``, whoever created it); None when it cannot be."""
        if self._fd is not None and self._pid != os.getpid():
            self._forget()
        if self._fd is None and not self.unavailable:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                # Writes go on without taking turns (SQLite's busy handler alone, as with Django's backend).
                self.unavailable = True
                if self.path not in _warned:
                    _warned.add(self.path)
                    logger.warning(
                        "SQLite writers' lock %s cannot be opened (%s): writers do not take turns", self.path, exc
                    )
                return None
            self._pid = os.getpid()
        return self._fd

    def _forget(self) -> None:
        """Drop a descriptor inherited across a fork without unlocking it (the lock is the parent's)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)  # type: ignore[arg-type]
        self._fd = None
        self.held = False

    def acquire(self) -> None:
        if self.held and self._pid == os.getpid():
            return
        fd = self._descriptor()
        if fd is None:
            return
        pause = _POLL_FIRST
        started: float | None = None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                now = self.clock()
                if started is None:
                    started = now
                elif now - started >= self.timeout:
                    raise base.Database.OperationalError("database is locked") from None
                self.sleep(pause)
                # A holder that keeps it for long is not waited for so eagerly: fewer wake-ups, same bound.
                pause = min(pause * 2, POLL_MAX if now - started < POLL_FAST_FOR else POLL_SLOW)
                continue
            self.held = True
            return

    def release(self) -> None:
        if not self.held:
            return
        if self._pid != os.getpid():
            self._forget()
            return
        self.held = False
        fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def around(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class Connection(base.Database.Connection):
    """sqlite3's connection, knowing its writers' lock (None: an in-memory database)."""

    writers: WritersLock | None = None


class Cursor(base.SQLiteCursorWrapper):
    """Takes the writers' lock around a write in autocommit mode (a transaction holds it already)."""

    def execute(self, query: str, params: Any = None) -> Any:
        with self._turn(query):
            return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        with self._turn(query):
            return super().executemany(query, param_list)

    def _turn(self, query: str) -> contextlib.AbstractContextManager[None]:
        """The writers' lock around ``query`` when it writes in autocommit mode; nothing otherwise."""
        writers = self.connection.writers
        if writers is None or writers.held or self.connection.in_transaction or not _WRITE.match(query):
            return contextlib.nullcontext()
        return writers.around()


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        return {**super().get_connection_params(), "factory": Connection}

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            timeout = float(conn_params.get("timeout", 5.0))  # sqlite3's own default when none is set
            connection.writers = WritersLock(f"{conn_params['database']}-writers", timeout=timeout)
        return connection

    def create_cursor(self, name: str | None = None) -> Any:
        return self.connection.cursor(factory=Cursor)

    def _writers(self) -> WritersLock | None:
        return getattr(self.connection, "writers", None) if self.connection is not None else None

    def _start_transaction_under_autocommit(self) -> None:
        writers = self._writers()
        if writers is None:
            return super()._start_transaction_under_autocommit()
        with self.wrap_database_errors:  # "database is locked" as Django's OperationalError, as SQLite's own
            writers.acquire()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            writers.release()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._release()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._release()

    def _close(self) -> None:
        writers = self._writers()
        try:
            super()._close()
        finally:
            if writers is not None:
                writers.close()

    def _release(self) -> None:
        writers = self._writers()
        if writers is not None and not (self.connection.in_transaction and writers.held):
            writers.release()
