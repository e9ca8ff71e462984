"""Per-conversation locks in Redis, project infrastructure any app may use: one worker at a time per conversation.

A lock lives CONVERSATION_LOCK_TTL seconds and is renewed while its holder works (one
renewer thread per process extends every held lock at a third of its TTL), so a slow
task keeps it and a killed worker's lock frees itself. `HeldLock.owned()` is the fencing
check: a holder that lost its lock (Redis restarted, renewal failed) stops before writing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.lock import Lock

from whatsapp_ia.redis_client import redis_client

logger = logging.getLogger(__name__)

LOCK_BUSY_RETRY = 0.5  # seconds before work that found its conversation busy first tries again
LOCK_BUSY_MAX_WAIT = 30.0  # ... doubling each time up to this


def lock_busy_backoff(busy: int) -> float:
    """Seconds before the `busy`-th retry of work whose lock another worker holds: 0.5, 1, 2 ... 30."""
    return min(LOCK_BUSY_RETRY * (2 ** max(busy, 0)), LOCK_BUSY_MAX_WAIT)


@dataclass
class HeldLock:
    """The outcome of a non-blocking acquire: truthy when this process holds the lock."""

    lock: Lock
    acquired: bool

    def __bool__(self) -> bool:
        return self.acquired

    def owned(self) -> bool:
        """Fencing check: still ours (not expired and taken by another worker)?"""
        if not self.acquired:
            return False
        try:
            return bool(self.lock.owned())
        except redis.RedisError:
            return False


@dataclass
class _Renewal:
    lock: Lock
    ttl: float
    due: float  # time.monotonic() of the next renewal


class _Renewer:
    """Extends the locks this process holds, from one daemon thread (started per process, after a fork too)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[int, _Renewal] = {}
        self._pid: int | None = None

    def add(self, lock: Lock, ttl: float) -> None:
        with self._guard:
            self._held[id(lock)] = _Renewal(lock, ttl, time.monotonic() + ttl / 3)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="lock-renewer", daemon=True).start()

    def remove(self, lock: Lock) -> None:
        with self._guard:
            self._held.pop(id(lock), None)

    def renew_due(self, now: float) -> int:
        """Renew every held lock due at `now` (monotonic seconds); drop the ones lost. Returns how many were renewed."""
        with self._guard:
            due = [r for r in self._held.values() if r.due <= now]
        renewed = 0
        for renewal in due:
            try:
                renewal.lock.reacquire()  # back to the full TTL, only if the token is still ours
            except redis.exceptions.LockError:
                logger.warning("Lock %s was lost before it could be renewed", renewal.lock.name)
                self.remove(renewal.lock)
                continue
            except redis.RedisError:
                logger.warning("Could not renew lock %s; trying again", renewal.lock.name, exc_info=True)
                continue
            renewal.due = now + renewal.ttl / 3
            renewed += 1
        return renewed

    def _run(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(1.0)
            with contextlib.suppress(Exception):  # the renewer must outlive any single failure
                self.renew_due(time.monotonic())


_renewer = _Renewer()


def locks_renew_due(*, now: float | None = None) -> int:
    """Renew the held locks that are due (what the renewer thread does each second)."""
    return _renewer.renew_due(time.monotonic() if now is None else now)


@contextmanager
def conversation_lock(kind: str, conversation_id: int, *, timeout: float | None = None) -> Iterator[HeldLock]:
    """Yield a truthy HeldLock when this process holds the lock (non-blocking); falsy when another one does."""
    ttl = float(timeout or settings.CONVERSATION_LOCK_TTL)
    # thread_local=False: the renewer thread extends it with the token this thread stored.
    lock = redis_client().lock(f"wia:lock:{kind}:{conversation_id}", timeout=ttl, blocking=False, thread_local=False)
    held = HeldLock(lock, bool(lock.acquire(blocking=False)))
    if held:
        _renewer.add(lock, ttl)
    try:
        yield held
    finally:
        if held:
            _renewer.remove(lock)
            # Expired while we worked: the next holder carries on.
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
