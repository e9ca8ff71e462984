"""Rate limits in Redis, shared by every worker process: the sender paces itself.

Meta allows 80 messages/s per business number (more on higher tiers) and a small
burst per customer ("pair" limit); going over returns 130429 / 131056. Pacing
before sending is cheaper than retrying after being refused: per-customer token
buckets, evenly spaced send slots per number, and a last check per number
(`window_enter`) that counts each send until its answer is back, so delays between
our check and the provider cannot bunch sends into one of the provider's seconds.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis

from whatsapp_ia.redis_client import redis_client, redis_script

# Lua functions shared by the scripts below; every script is one round trip to Redis.
_FUNCTIONS = """
-- Token bucket: takes `cost` tokens and returns 0, or takes nothing and returns the ms to wait.
local function bucket_take(key, rate, burst, now, cost)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
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
  redis.call('HSET', key, 'tokens', tokens, 'ts', ts)
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  return wait
end

-- Books the earliest free slot (`rate` slots/s, `burst` at once) and returns the ms to wait for it.
-- Every call gets a slot, so no capacity is lost to callers that wake up together (a take-or-retry
-- bucket loses the slots nobody claims in time).
local function slot_reserve(key, rate, burst, now)
  local interval = 1 / rate
  local free = tonumber(redis.call('GET', key) or '0')
  local slot = math.max(now - (burst - 1) * interval, free)
  local ttl = math.ceil((slot + interval - now) * 1000) + 1000
  redis.call('SET', key, string.format('%.6f', slot + interval), 'PX', ttl)
  return math.ceil(math.max(0, slot - now) * 1000)
end

-- Counts a send that starts now in the sorted set `key` if fewer than `limit` are counted (0), else
-- returns the ms to wait (see _WINDOW_LUA).
local function window_enter(key, limit, window, now, member, hold, poll)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, now + hold, member)
    redis.call('PEXPIRE', key, math.ceil((hold + window) * 1000) + 1000)
    return 0
  end
  local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  local wait = oldest + window - now
  if oldest > now then wait = poll end
  return math.max(1, math.ceil(wait * 1000))
end
"""

# KEYS[1] bucket; ARGV: rate (tokens/s), burst, now (s), cost.
_BUCKET_LUA = _FUNCTIONS + (
    "return bucket_take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))"
)

# KEYS[1] next free slot; ARGV: rate (slots/s), burst, now (s).
_RESERVE_LUA = _FUNCTIONS + "return slot_reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))"

# KEYS[1] a sorted set of sends, each scored with the last moment the provider may have counted it:
# while in flight, its start + ARGV[5] (hold: longer than any request may take); once answered,
# the answer's time. ARGV: limit, window (s), now (s), member, hold (s), poll (s).
# A send is counted while its score is within the last window. Records the send and returns 0
# when fewer than limit are counted; else the ms until one leaves the window (or `poll` when all
# of them are still in flight: any answer frees a place).
_WINDOW_LUA = (
    _FUNCTIONS + "return window_enter(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4],"
    " tonumber(ARGV[5]), tonumber(ARGV[6]))"
)

# KEYS[1] bucket, KEYS[2] slots, optionally KEYS[3] a window; ARGV: bucket rate, bucket burst, slot
# rate, slot burst, now (s), then for the window its limit, window (s), member, hold (s), poll (s).
# A slot is booked only when the bucket gave its token; with a window, a slot that is now is also
# checked against it (`window_enter`: a send that goes at once needs no second round trip).
# Returns {bucket wait ms, slot wait ms, ms until the bucket has a token again, window wait ms
# (-1: not checked; 0: counted)}.
_TAKE_RESERVE_LUA = (
    _FUNCTIONS
    + """
local rate = tonumber(ARGV[1])
local now = tonumber(ARGV[5])
local wait = bucket_take(KEYS[1], rate, tonumber(ARGV[2]), now, 1)
if wait > 0 then return {wait, 0, wait, -1} end
local slot = slot_reserve(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), now)
local left = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
local next_token = 0
if left < 1 then next_token = math.ceil((1 - left) / rate * 1000) end
if #KEYS < 3 or slot > 0 then return {0, slot, next_token, -1} end
local entered = window_enter(KEYS[3], tonumber(ARGV[6]), tonumber(ARGV[7]), now, ARGV[8], tonumber(ARGV[9]),
  tonumber(ARGV[10]))
return {0, 0, next_token, entered}
"""
)


def _script(source: str = _BUCKET_LUA) -> redis.commands.core.Script:
    return redis_script(source)


def _now(now: float | None) -> str:
    """The moment a call acts at, in epoch seconds: the wall clock unless a caller (a test) gives one."""
    return f"{time.time() if now is None else now:.6f}"


def take(*, key: str, rate: float, burst: float, now: float | None = None) -> float:
    """Take one token from `key`'s bucket; returns 0.0 when taken, else the seconds to wait first."""
    if rate <= 0:
        return 0.0
    wait_ms = _script()(keys=[f"wia:rl:{key}"], args=[rate, max(burst, 1), _now(now), 1])
    return int(wait_ms) / 1000.0


def reserve(*, key: str, rate: float, burst: float, now: float | None = None) -> float:
    """Book the next send slot on `key`; returns the seconds to wait until it (0.0 = now)."""
    if rate <= 0:
        return 0.0
    wait_ms = _script(_RESERVE_LUA)(keys=[f"wia:rl:{key}"], args=[rate, max(burst, 1), _now(now)])
    return int(wait_ms) / 1000.0


@dataclass(frozen=True)
class WindowEntry:
    key: str  # the Redis key of the window
    member: str  # this send in it


@dataclass(frozen=True)
class WindowSpec:
    """A window of `window_enter`, for `take_then_reserve` to check in the same round trip."""

    key: str
    limit: int
    hold: float
    window: float = 1.0
    poll: float = 0.02


@dataclass(frozen=True)
class TakeReserve:
    bucket_wait: float  # seconds until the bucket can give a token; nothing was taken or booked
    slot_wait: float  # seconds until the booked slot (0.0 when bucket_wait is not 0)
    bucket_next: float  # seconds until the bucket has a token for the next call (0.0 = one is left)
    entry: WindowEntry | None = None  # the slot was now and the send is counted in the window already
    window_wait: float = 0.0  # the slot was now but the window was full: seconds until a place frees


def take_then_reserve(
    *,
    bucket_key: str,
    bucket_rate: float,
    bucket_burst: float,
    slot_key: str,
    slot_rate: float,
    slot_burst: float,
    now: float | None = None,
    enter: WindowSpec | None = None,
) -> TakeReserve:
    """`take` on the bucket, then, only if it gave its token, `reserve` a slot: one round trip.

    Also says when the bucket can give its next token, so a caller with more to send through
    it knows it must wait without asking again. A rate of 0 turns its part off. With ``enter``,
    a slot booked for now is followed by `window_enter` on that window in the same round trip
    (``entry``, or ``window_wait`` when the window is full); else the caller enters it itself.
    """
    if bucket_rate <= 0:
        return TakeReserve(0.0, reserve(key=slot_key, rate=slot_rate, burst=slot_burst, now=now), 0.0)
    if slot_rate <= 0:
        wait = take(key=bucket_key, rate=bucket_rate, burst=bucket_burst, now=now)
        return TakeReserve(wait, 0.0, wait)
    at = _now(now)
    keys = [f"wia:rl:{bucket_key}", f"wia:rl:{slot_key}"]
    args: list[object] = [bucket_rate, max(bucket_burst, 1), slot_rate, max(slot_burst, 1), at]
    entry = None
    if enter is not None and enter.limit > 0:
        entry = WindowEntry(f"wia:rl:{enter.key}", f"{at}:{uuid.uuid4().hex[:8]}")
        keys.append(entry.key)
        args += [enter.limit, enter.window, entry.member, enter.hold, enter.poll]
    bucket_ms, slot_ms, next_ms, window_ms = (int(v) for v in _script(_TAKE_RESERVE_LUA)(keys=keys, args=args))
    return TakeReserve(
        bucket_ms / 1000.0,
        slot_ms / 1000.0,
        next_ms / 1000.0,
        entry=entry if window_ms == 0 else None,  # -1: not checked (a later slot, or no window)
        window_wait=max(window_ms, 0) / 1000.0,
    )


def window_enter(
    *, key: str, limit: int, hold: float, window: float = 1.0, poll: float = 0.02, now: float | None = None
) -> tuple[float, WindowEntry | None]:
    """Count a send that starts now if fewer than `limit` sends are counted; else (seconds to wait, None).

    A send stays counted from its start until `window` seconds after its answer (`window_answered`),
    or `hold` + `window` seconds after its start if no answer is recorded (a worker that died).
    The provider counts a request when it arrives, at some point between our start and the
    answer, so whatever delays a request on its way (a busy CPU, the GIL, the network), no
    `window` seconds of the provider's can see more than `limit` of ours: for any such stretch,
    the send among them that started last was checked here while every other one was in flight
    or answered within `window` before it, so all were counted. A limit of 0 turns it off.
    """
    if limit <= 0:
        return 0.0, None
    at = _now(now)
    member = f"{at}:{uuid.uuid4().hex[:8]}"
    wait_ms = _script(_WINDOW_LUA)(keys=[f"wia:rl:{key}"], args=[limit, window, at, member, hold, poll])
    if int(wait_ms):
        return int(wait_ms) / 1000.0, None
    return 0.0, WindowEntry(f"wia:rl:{key}", member)


def window_answered(entry: WindowEntry | None, *, now: float | None = None) -> None:
    """The send's answer is here (or it failed): it stays counted for one more window from now."""
    if entry is not None:
        redis_client().zadd(entry.key, {entry.member: float(_now(now))}, xx=True)


def window_key(channel_id: int) -> str:
    return f"win:{channel_id}"


def number_key(channel_id: int) -> str:
    return f"num:{channel_id}"


def pair_key(channel_id: int, recipient: str) -> str:
    return f"pair:{channel_id}:{recipient}"
