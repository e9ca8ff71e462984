"""Token buckets in Redis, shared by every worker process: the sender paces itself.

Meta allows 80 messages/s per business number (more on higher tiers) and a small
burst per customer ("pair" limit); going over returns 130429 / 131056. Pacing
before sending is cheaper than retrying after being refused.
"""

from __future__ import annotations

import time
from functools import lru_cache

import redis
from django.conf import settings

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


@lru_cache(maxsize=1)
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@lru_cache(maxsize=1)
def _script() -> redis.commands.core.Script:
    return _client().register_script(_BUCKET_LUA)


def take(*, key: str, rate: float, burst: float) -> float:
    """Take one token from `key`'s bucket; returns 0.0 when taken, else the seconds to wait first."""
    if rate <= 0:
        return 0.0
    wait_ms = _script()(keys=[f"wia:rl:{key}"], args=[rate, max(burst, 1), time.time(), 1])
    return int(wait_ms) / 1000.0


def number_key(channel_id: int) -> str:
    return f"num:{channel_id}"


def pair_key(channel_id: int, recipient: str) -> str:
    return f"pair:{channel_id}:{recipient}"
