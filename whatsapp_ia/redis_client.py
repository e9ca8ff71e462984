"""The process's Redis client: project infrastructure shared by every app (locks, rate limits, caches)."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def redis_client() -> redis.Redis:
    """The process's Redis client (a thread-safe connection pool) for the current REDIS_URL."""
    return _client_for(settings.REDIS_URL)


def redis_script(source: str) -> redis.commands.core.Script:
    """A Lua script on the process's Redis, registered once per REDIS_URL (EVALSHA, loaded again if
    Redis forgot it)."""
    return _script_for(settings.REDIS_URL, source)


@lru_cache(maxsize=32)
def _script_for(url: str, source: str) -> redis.commands.core.Script:
    return _client_for(url).register_script(source)
