"""Per-conversation locks in Redis: one worker at a time handles a conversation, so order holds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def redis_client() -> redis.Redis:
    """The process's Redis client (a thread-safe connection pool) for the current REDIS_URL."""
    return _client_for(settings.REDIS_URL)


@contextmanager
def conversation_lock(kind: str, conversation_id: int, *, timeout: float = 300) -> Iterator[bool]:
    """Yield True when this process holds the lock (non-blocking); False when another one does."""
    lock = redis_client().lock(f"wia:lock:{kind}:{conversation_id}", timeout=timeout, blocking=False)
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            # Expired while we worked: the next holder carries on.
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
