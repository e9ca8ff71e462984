"""Project-wide pytest fixtures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parent
T = TypeVar("T")


def load_fixture(provider: str, name: str) -> Any:
    """A provider payload fixture: conversations/tests/fixtures/<provider>/<name>.json."""
    path = ROOT / "conversations" / "tests" / "fixtures" / provider / f"{name}.json"
    return json.loads(path.read_text())


def load_fixture_bytes(provider: str, name: str) -> bytes:
    return (ROOT / "conversations" / "tests" / "fixtures" / provider / f"{name}.json").read_bytes()


@pytest.fixture(scope="session", autouse=True)
def _redis_for_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """bin/test provides a real Redis (REDIS_URL); a bare `pytest` starts the embedded one for the session."""
    from django.conf import settings

    proc = None
    if settings.REDIS.socket_path:
        from whatsapp_ia import embedded_redis

        proc = embedded_redis.start(settings.REDIS.socket_path, log_path=tmp_path_factory.mktemp("redis") / "redis.log")
    yield
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_rules_cache() -> None:
    """Each process keeps the active rules (flows/rules_cache.py); each test's rules are rolled back."""
    from catalog_ai.responder import ai_handoff_cache_clear
    from conversations.services.channels import channels_cache_clear
    from flows.rules_cache import rules_cache_clear

    rules_cache_clear()
    channels_cache_clear()  # ids repeat across tests (rolled back): a kept channel would be another test's
    ai_handoff_cache_clear()


@pytest.fixture(autouse=True)
def _fresh_rate_limits_and_locks() -> None:
    """Rate-limit buckets and conversation locks live in Redis; ids repeat across tests, so clear them."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [
        *client.scan_iter("wia:rl:*", count=1000),
        *client.scan_iter("wia:lock:*", count=1000),
        *client.scan_iter("wia:webhook:*", count=1000),  # rejected-POST counters per client address
        *client.scan_iter("wia:transcription:*", count=1000),  # recent transcription times (load shedding)
    ]
    if keys:
        client.delete(*keys)


class FakeClock:
    """A clock a test moves by hand: pass `clock.now` as the `now=` of the code under test."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A FakeClock at an arbitrary epoch second, so no assertion depends on how fast the machine is."""
    return FakeClock()


@pytest.fixture
def tesseract_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[int]]]:
    """Tesseract behind a wrapper that notes the CPU scheduling policy each read ran under: call the fixture's
    value for those policies (os.SCHED_IDLE when the read yielded the CPU), probes left out."""
    import shutil
    import sys

    import pytesseract

    from whatsapp_ia.tesseract import tesseract_probe

    real = shutil.which(pytesseract.pytesseract.tesseract_cmd) or shutil.which("tesseract")
    assert real, "tesseract is not installed"
    seen = tmp_path / "tesseract-policies"
    wrapper = tmp_path / "tesseract"
    wrapper.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        f"open({str(seen)!r}, 'a').write(f'{{os.sched_getscheduler(0)}} {{sys.argv[1:]}}\\n')\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(wrapper))
    tesseract_probe.cache_clear()

    def policies() -> list[int]:
        lines = seen.read_text().splitlines() if seen.exists() else []
        return [int(line.split()[0]) for line in lines if "--list-langs" not in line and "--version" not in line]

    yield policies
    tesseract_probe.cache_clear()


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, message: str | Callable[[], str] = ""
) -> T:
    """Poll `predicate` until it returns something truthy, and return that; fail clearly after `timeout`.

    The timeout bounds how long a test waits for work done elsewhere (a worker, a server); it is
    not an assertion on speed, so keep it generous.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            _gave_up(predicate, timeout, message)
        time.sleep(interval)


@contextmanager
def database_round_trips() -> Iterator[list[bytes]]:
    """What the MySQL/MariaDB connection sends to the server meanwhile, one entry per round trip
    (statements sent together are one entry, joined by "; "; mysqlclient's own COMMIT is b"COMMIT")."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    sent: list[bytes] = []
    query, commit = raw.query, raw.commit

    def counted(text: bytes) -> Any:
        sent.append(text)
        return query(text)

    def committed() -> Any:
        sent.append(b"COMMIT")
        return commit()

    raw.query, raw.commit = counted, committed
    try:
        yield sent
    finally:
        raw.query, raw.commit = query, commit


def _gave_up(predicate: Callable[[], object], timeout: float, message: str | Callable[[], str]) -> None:
    detail = message() if callable(message) else message
    what = getattr(predicate, "__name__", "a condition")
    pytest.fail(f"gave up after waiting {timeout} s for {what}" + (f": {detail}" if detail else ""))


@pytest.fixture
def redis_client() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def celery_live_worker(redis_client: Any) -> Iterator[Any]:
    """A real Celery worker (threads, in this process) consuming the test Redis broker.

    Use with `@pytest.mark.django_db(transaction=True)` so the worker's own
    database connections see the test's rows. Stale tasks of earlier tests are purged first.
    """
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from whatsapp_ia.celery import app

    redis_client.flushdb()
    queues = ["celery", settings.TRANSCRIPTION_QUEUE, settings.VISION_QUEUE]  # as `manage.py serve`'s two workers
    with start_worker(
        app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=20, queues=queues
    ) as worker:
        yield worker
    redis_client.flushdb()


async def wait_for_async(
    predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.005, message: str | Callable[[], str] = ""
) -> T:
    """`wait_for` for async tests: polls without blocking the event loop (the awaited work runs on it)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            _gave_up(predicate, timeout, message)
        await asyncio.sleep(interval)


def port_listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port (a server started by a test is up)."""
    import socket

    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def celery_settled(redis_client: Any, *, timeout: float = 30.0) -> None:
    """Wait until the live worker has nothing left: no task queued, none held (acks are late, so a task
    running or waiting for its countdown stays in the broker's `unacked` until it ends, after it has
    queued its follow-ups). Then "no second reply" is checked on finished work, not after a nap.
    Seen quiet twice in a row, as a message moves from the queue to `unacked` in two steps."""

    from django.conf import settings

    names = ("celery*", settings.TRANSCRIPTION_QUEUE, settings.VISION_QUEUE)

    def quiet() -> bool:
        queued = sum(
            redis_client.llen(key)
            for name in names
            for key in redis_client.scan_iter(name)
            if redis_client.type(key) == b"list"
        )
        return queued == 0 and redis_client.hlen("unacked") == 0

    def quiet_twice() -> bool:
        if not quiet():
            return False
        time.sleep(0.1)
        return quiet()

    wait_for(quiet_twice, timeout=timeout, message="the Celery worker still has tasks queued or running")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove this process's SQLite test database side files (WAL, SHM, the writers' lock) once Django drops it."""
    import os

    from django.conf import settings

    name = str(settings.DATABASES["default"].get("TEST", {}).get("NAME") or "")
    if name.endswith(f"_{os.getpid()}.sqlite3"):
        for suffix in ("", "-wal", "-shm", "-writers"):
            Path(name + suffix).unlink(missing_ok=True)
