"""The SQLite backend (whatsapp_ia/db/sqlite3): the writers of one database file take turns through a lock file.

Each test opens its own database file with the backend (whatever database the suite runs on), so the lock is
seen from outside: a probe that tries the same ``flock`` without waiting.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError as DjangoOperationalError
from django.db.utils import ConnectionHandler

from conversations.services.errors import is_transient_error
from whatsapp_ia.settings.parsing import SQLITE_ENGINE, database_from_env


@pytest.fixture(autouse=True)
def _own_databases(django_db_blocker: Any) -> Iterator[None]:
    """These files are the tests' own, not the suite's test database."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite3"


def _open(database: Path, **options: Any) -> Any:
    """A connection of the product's SQLite backend to ``database``, with the product's options."""
    config = database_from_env({}, sqlite_path=database)
    config["OPTIONS"].update(options)
    assert config["ENGINE"] == SQLITE_ENGINE
    conn = ConnectionHandler({"default": config})["default"]
    conn.ensure_connection()
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    return conn


@contextmanager
def _atomic(conn: Any) -> Iterator[None]:
    """What ``transaction.atomic`` does on the outermost block (it only knows the project's connections)."""
    conn.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    conn.in_atomic_block = True
    try:
        yield
    except BaseException:
        conn.in_atomic_block = False
        conn.rollback()
        raise
    else:
        conn.in_atomic_block = False
        conn.commit()
    finally:
        conn.in_atomic_block = False
        conn.set_autocommit(True)


class Probe:
    """Tries the writers' lock from outside, without waiting; or holds it."""

    def __init__(self, database: Path) -> None:
        self.fd = os.open(f"{database}-writers", os.O_RDWR | os.O_CREAT)

    def free(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        return True

    def hold(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def let_go(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def probe(database: Path) -> Iterator[Probe]:
    found = Probe(database)
    yield found
    found.close()


def _rows(database: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(database) as plain:
        return [v for (v,) in plain.execute("SELECT v FROM t ORDER BY id")]


def test_a_transaction_holds_the_writers_lock_from_begin_to_commit(database: Path, probe: Probe) -> None:
    conn = _open(database)
    try:
        assert probe.free()
        with _atomic(conn):
            assert not probe.free()  # taken at BEGIN IMMEDIATE, before SQLite's own lock
            with conn.cursor() as cursor:
                cursor.execute("INSERT INTO t (v) VALUES ('a')")
            assert not probe.free()
        assert probe.free()
        with pytest.raises(RuntimeError), _atomic(conn):
            with conn.cursor() as cursor:
                cursor.execute("INSERT INTO t (v) VALUES ('b')")
            assert not probe.free()
            raise RuntimeError("rolled back")
        assert probe.free()  # a rollback lets go too
        assert _rows(database) == ["a"]
    finally:
        conn.close()
    assert probe.free()


def test_a_write_in_autocommit_waits_for_the_lock_and_a_read_does_not(database: Path, probe: Probe) -> None:
    conn = _open(database)
    pauses: list[float] = []

    def pause(seconds: float) -> None:  # the holder lets go after a few of the writer's tries
        pauses.append(seconds)
        assert _rows(database) == []  # the INSERT waits: it has not run
        if len(pauses) == 3:
            probe.let_go()

    try:
        conn.connection.writers.sleep = pause
        probe.hold()
        with conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM t")  # a read takes no lock
            assert cursor.fetchone() == (0,)
            assert pauses == []
            cursor.execute("INSERT INTO t (v) VALUES ('after the holder')")
        assert len(pauses) == 3
        assert max(pauses) <= 0.0005  # it tries again at least every half millisecond
        assert _rows(database) == ["after the holder"]
        assert probe.free()  # let go right after the statement
    finally:
        conn.close()


def test_a_writer_that_waits_longer_than_the_timeout_gets_a_transient_database_is_locked(
    database: Path, probe: Probe
) -> None:
    conn = _open(database, timeout=30)
    now = [100.0]

    def pause(seconds: float) -> None:
        now[0] += 10.0  # each try, ten seconds later

    try:
        conn.connection.writers.clock = lambda: now[0]
        conn.connection.writers.sleep = pause
        probe.hold()
        with pytest.raises(DjangoOperationalError, match="database is locked") as failed, _atomic(conn):
            pass
        assert now[0] >= 130.0
        assert is_transient_error(failed.value)  # retried later, as SQLite's own "database is locked"
        probe.let_go()
        with _atomic(conn), conn.cursor() as cursor:  # the connection is still usable
            cursor.execute("INSERT INTO t (v) VALUES ('later')")
        assert _rows(database) == ["later"]
    finally:
        conn.close()


def test_writers_of_two_threads_take_turns(database: Path, probe: Probe) -> None:
    first = _open(database)
    inside = threading.Event()
    done: list[str] = []

    def other_thread() -> None:
        conn = _open(database)
        try:
            conn.connection.writers.sleep = lambda _s: inside.wait(5)
            with _atomic(conn), conn.cursor() as cursor:  # waits while the first thread's transaction holds it
                cursor.execute("INSERT INTO t (v) VALUES ('second')")
            done.append("second")
        finally:
            conn.close()

    try:
        with _atomic(first):
            with first.cursor() as cursor:
                cursor.execute("INSERT INTO t (v) VALUES ('first')")
            worker = threading.Thread(target=other_thread)
            worker.start()
            inside.set()
            assert done == []
        worker.join(10)
        assert done == ["second"]
        assert _rows(database) == ["first", "second"]
    finally:
        first.close()


def test_a_forked_child_never_lets_go_of_its_parents_lock(database: Path, probe: Probe) -> None:
    conn = _open(database)
    try:
        with _atomic(conn):
            assert not probe.free()
            read, write = os.pipe()
            child = os.fork()
            if child == 0:  # pragma: no cover - runs in the child
                try:
                    conn.connection.writers.release()  # a copy of the parent's connection, inherited
                    conn.connection.writers.close()
                finally:
                    os.write(write, b"1")
                    os._exit(0)
            os.close(write)
            assert os.read(read, 1) == b"1"
            os.waitpid(child, 0)
            os.close(read)
            assert not probe.free()  # still the parent's
        assert probe.free()
    finally:
        conn.close()


def test_an_in_memory_database_has_no_lock_file(tmp_path: Path) -> None:
    config = database_from_env({"DATABASE_URL": "sqlite://:memory:"}, sqlite_path=tmp_path / "unused.sqlite3")
    conn = ConnectionHandler({"default": config})["default"]
    try:
        conn.ensure_connection()
        assert conn.connection.writers is None
        with _atomic(conn), conn.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            cursor.execute("INSERT INTO t DEFAULT VALUES")
        assert not list(tmp_path.iterdir())
    finally:
        conn.close()


def test_a_long_wait_tries_less_often(database: Path, probe: Probe) -> None:
    conn = _open(database, timeout=30)
    now = [0.0]
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds
        if now[0] >= 1.0:  # the holder lets go after a second
            probe.let_go()

    try:
        conn.connection.writers.clock = lambda: now[0]
        conn.connection.writers.sleep = pause
        probe.hold()
        with _atomic(conn), conn.cursor() as cursor:
            cursor.execute("INSERT INTO t (v) VALUES ('after a second')")
        young = [p for p, at in zip(pauses, _elapsed(pauses), strict=True) if at < 0.1]
        assert max(young) <= 0.0005  # eager while the wait is young
        assert max(pauses) == 0.005  # then every 5 ms
        assert len(pauses) < 400  # a second of waiting, not 2,000 wake-ups
        assert _rows(database) == ["after a second"]
    finally:
        conn.close()


def _elapsed(pauses: list[float]) -> list[float]:
    """How long the writer had waited when it took each pause."""
    out, total = [], 0.0
    for seconds in pauses:
        out.append(total)
        total += seconds
    return out


def test_a_lock_file_that_cannot_be_opened_is_logged_and_writes_go_on(database: Path, caplog: Any) -> None:
    Path(f"{database}-writers").symlink_to(database.parent / "missing-folder" / "writers")
    conn = _open(database)
    try:
        with caplog.at_level("WARNING", logger="whatsapp_ia.db.sqlite3.base"):
            with _atomic(conn), conn.cursor() as cursor:
                cursor.execute("INSERT INTO t (v) VALUES ('in a transaction')")
            with conn.cursor() as cursor:
                cursor.execute("INSERT INTO t (v) VALUES ('in autocommit')")
        assert _rows(database) == ["in a transaction", "in autocommit"]
        assert sum("cannot be opened" in r.getMessage() for r in caplog.records) == 1
    finally:
        conn.close()
