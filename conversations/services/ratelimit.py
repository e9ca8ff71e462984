"""Token buckets in Redis, shared by every worker process: the sender paces itself.

Meta allows 80 messages/s per business number (more on higher tiers) and a small
burst per customer ("pair" limit); going over returns 130429 / 131056. Pacing
before sending is cheaper than retrying after being refused.
"""

from __future__ import annotations

import time
import uuid
from functools import lru_cache

import redis
from django.conf import settings

from conversations.services.locks import redis_client

# KEYS[1] bucket; ARGV: rate (tokens/s), burst, now (s), cost. Returns ms to wait (0 = take it now).
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = burst; ts = now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate); ts = now end
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""


# KEYS[1] next free slot; ARGV: rate (slots/s), burst, now (s). Books the earliest free slot and
# returns the ms to wait for it. Every call gets a slot, so no capacity is lost to callers that
# wake up together (a take-or-retry bucket loses the slots nobody claims in time).
_RESERVE_LUA = """
local interval = 1 / tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now - (burst - 1) * interval, free)
local ttl = math.ceil((slot + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', ttl)
return math.ceil(math.max(0, slot - now) * 1000)
"""


# KEYS[1] a sorted set of recent sends; ARGV: max sends per window, window (s), now (s), member.
# Records the send and returns 0 when fewer than max happened in the last window; else the ms
# until the oldest one leaves it. This is what the provider counts, so it absorbs scheduling jitter.
_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  return 0
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
return math.max(1, math.ceil((oldest + window - now) * 1000))
"""


@lru_cache(maxsize=8)
def _script_for(url: str, source: str) -> redis.commands.core.Script:
    return redis_client().register_script(source)


def _script(source: str = _BUCKET_LUA) -> redis.commands.core.Script:
    return _script_for(settings.REDIS_URL, source)


def take(*, key: str, rate: float, burst: float) -> float:
    """Take one token from `key`'s bucket; returns 0.0 when taken, else the seconds to wait first."""
    if rate <= 0:
        return 0.0
    wait_ms = _script()(keys=[f"wia:rl:{key}"], args=[rate, max(burst, 1), time.time(), 1])
    return int(wait_ms) / 1000.0


def reserve(*, key: str, rate: float, burst: float) -> float:
    """Book the next send slot on `key`; returns the seconds to wait until it (0.0 = now)."""
    if rate <= 0:
        return 0.0
    wait_ms = _script(_RESERVE_LUA)(keys=[f"wia:rl:{key}"], args=[rate, max(burst, 1), f"{time.time():.6f}"])
    return int(wait_ms) / 1000.0


def window_take(*, key: str, limit: int, window: float = 1.0) -> float:
    """Record a send if fewer than `limit` happened in the last `window` seconds; else the seconds to wait."""
    if limit <= 0:
        return 0.0
    now = f"{time.time():.6f}"
    wait_ms = _script(_WINDOW_LUA)(keys=[f"wia:rl:{key}"], args=[limit, window, now, f"{now}:{uuid.uuid4().hex[:8]}"])
    return int(wait_ms) / 1000.0


def window_key(channel_id: int) -> str:
    return f"win:{channel_id}"


def number_key(channel_id: int) -> str:
    return f"num:{channel_id}"


def pair_key(channel_id: int, recipient: str) -> str:
    return f"pair:{channel_id}:{recipient}"
