"""Who is viewing a chat: one Redis sorted set per conversation, members expiring without a heartbeat.

A member is one console connection (``<user id>|<connection>|<name>``) scored by the time it
expires; a console that views a chat refreshes its member on every heartbeat, and removes it when
it moves to another chat or disconnects. A crashed browser (or web process) stops refreshing and
drops out once its expiry passes: the next change to that chat's viewers reports it gone.
Viewers are users: two tabs of one agent count once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

_KEY = "wia:presence:conversation:{}"

# KEYS: the chat's set. ARGV: now (ms), ttl (ms), member to refresh ('' for none), member to remove ('' for none).
# Returns the members before (expired ones included) and after the change.
_UPDATE_LUA = """
local key = KEYS[1]
local now, ttl, add, remove = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local before = redis.call('ZRANGE', key, 0, -1)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if remove ~= '' then redis.call('ZREM', key, remove) end
if add ~= '' then redis.call('ZADD', key, now + ttl, add) end
if redis.call('EXISTS', key) == 1 then redis.call('PEXPIRE', key, ttl) end
return {before, redis.call('ZRANGE', key, 0, -1)}
"""

_UPDATE_SHA = hashlib.sha1(_UPDATE_LUA.encode(), usedforsecurity=False).hexdigest()  # the script cache key


@dataclass(frozen=True)
class Viewer:
    id: int
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class PresenceChange:
    viewers: list[Viewer]
    changed: bool  # the set of viewing users differs from before (someone came, left or expired)


def presence_member(*, user_id: int, connection: str, name: str) -> str:
    return f"{user_id}|{connection}|{name}"


def _viewers(members: list[Any]) -> list[Viewer]:
    found: dict[int, Viewer] = {}
    for raw in members:
        user_id, _, name = (raw.decode() if isinstance(raw, bytes) else raw).split("|", 2)
        found.setdefault(int(user_id), Viewer(id=int(user_id), name=name))
    return sorted(found.values(), key=lambda v: (v.name.casefold(), v.id))


async def _update(
    client: Any, conversation_id: int, *, now: float, ttl: float, add: str, remove: str
) -> PresenceChange:
    args = [_KEY.format(conversation_id), int(now * 1000), int(ttl * 1000), add, remove]
    try:
        before, after = await client.evalsha(_UPDATE_SHA, 1, *args)
    except NoScriptError:
        before, after = await client.eval(_UPDATE_LUA, 1, *args)
    viewers = _viewers(after)
    return PresenceChange(viewers=viewers, changed={v.id for v in _viewers(before)} != {v.id for v in viewers})


async def presence_view(client: Any, *, conversation_id: int, member: str, now: float, ttl: float) -> PresenceChange:
    """``member`` views the chat (or still does: a heartbeat) until ``now + ttl``."""
    return await _update(client, conversation_id, now=now, ttl=ttl, add=member, remove="")


async def presence_leave(client: Any, *, conversation_id: int, member: str, now: float, ttl: float) -> PresenceChange:
    """``member`` no longer views the chat."""
    return await _update(client, conversation_id, now=now, ttl=ttl, add="", remove=member)
