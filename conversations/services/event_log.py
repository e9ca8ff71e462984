"""The console event log: one capped Redis Stream that gives every console event a monotonic id.

Sending (``events_append``): one Lua script per batch of events, so one Redis round trip however
many events and groups the batch has. For each event it

- appends a stream entry (fields ``e`` = event name, ``g`` = the console groups that may see it,
  space-separated, ``d`` = the event data as JSON); the entry id (``<ms>-<seq>``) is the event id;
- publishes the ready websocket frame (and the group's name) to each group's channel of the
  Channels pub/sub layer (``channels_redis.pubsub.RedisPubSubChannelLayer``: a group is one Redis
  channel named ``<prefix>__group__<group>``, its messages msgpack maps), so consoles get it live;

then trims the stream to about ``maxlen`` entries. The ``floor`` key holds the lowest id from which
the log is complete: the first entry after a trim, or the first entry of a stream created afresh
(a Redis restarted without its data). A console resuming from an id below the floor, or from an id
the log never issued, may have missed events: it must reload over REST (``resync``).

Reading (``log_read_after``, ``log_last_id``): the websocket consumer replays the entries after the
id a console last saw, filtered by the console's groups, with the same frame text the script
publishes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from redis.exceptions import NoScriptError

STREAM_KEY = "wia:console:events"
FLOOR_KEY = "wia:console:events:floor"
ZERO_ID = "0-0"

# KEYS: stream, floor. ARGV: maxlen, group channel prefix, then (name, groups, data) per event.
_APPEND_LUA = """
local stream, floor = KEYS[1], KEYS[2]
local maxlen, prefix = ARGV[1], ARGV[2]
local fresh = redis.call('EXISTS', stream) == 0
local ids = {}
for i = 3, #ARGV, 3 do
  local name, groups, data = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local id = redis.call('XADD', stream, '*', 'e', name, 'g', groups, 'd', data)
  local frame = '{"type":"event","id":"' .. id .. '","event":"' .. name .. '","data":' .. data .. '}'
  for group in string.gmatch(groups, '%S+') do
    local message = cmsgpack.pack({type = 'console.event', id = id, frame = frame, group = group})
    redis.call('PUBLISH', prefix .. group, message)
  end
  ids[#ids + 1] = id
end
if fresh and #ids > 0 then
  redis.call('SET', floor, ids[1])
end
if redis.call('XTRIM', stream, 'MAXLEN', '~', maxlen) > 0 then
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #first > 0 then
    redis.call('SET', floor, first[1][1])
  end
end
return ids
"""

_APPEND_SHA = hashlib.sha1(_APPEND_LUA.encode(), usedforsecurity=False).hexdigest()  # the script cache key
_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
START = "log.start"  # the entry that starts an empty log: seen by no console


@dataclass(frozen=True)
class PendingEvent:
    """An event committed by the database, waiting for its id."""

    name: str
    groups: tuple[str, ...]
    data: dict[str, Any]


@dataclass(frozen=True)
class LoggedEvent:
    id: str
    name: str
    groups: frozenset[str]
    frame: str


@dataclass(frozen=True)
class LogPage:
    """Entries after a cursor; ``gap`` when events after the cursor may be gone from the log."""

    events: list[LoggedEvent]
    gap: bool
    last_id: str


def parse_event_id(value: Any) -> tuple[int, int] | None:
    """``"<ms>-<seq>"`` as a comparable pair, or None when it is not an event id."""
    match = _ID.match(value) if isinstance(value, str) else None
    return (int(match[1]), int(match[2])) if match else None


def event_frame(*, event_id: str, name: str, data_json: str) -> str:
    """The websocket text of an event: the same text the append script publishes."""
    return f'{{"type":"event","id":"{event_id}","event":"{name}","data":{data_json}}}'


def data_json(data: dict[str, Any]) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def events_append(client: Any, events: Sequence[PendingEvent], *, maxlen: int, group_prefix: str) -> list[str]:
    """Log and publish ``events`` in one round trip; returns their ids in order."""
    if not events:
        return []
    args: list[Any] = [maxlen, group_prefix]
    for event in events:
        if any(not group or " " in group for group in event.groups):
            raise ValueError(f"Console group names cannot be empty or contain spaces: {event.groups!r}")
        args += [event.name, " ".join(event.groups), data_json(event.data)]
    try:
        ids = client.evalsha(_APPEND_SHA, 2, STREAM_KEY, FLOOR_KEY, *args)
    except NoScriptError:
        ids = client.eval(_APPEND_LUA, 2, STREAM_KEY, FLOOR_KEY, *args)
    return [_text(i) for i in ids]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _logged(entry_id: bytes | str, fields: dict[Any, Any]) -> LoggedEvent:
    fields = {_text(k): _text(v) for k, v in fields.items()}
    event_id, name = _text(entry_id), fields.get("e", "")
    return LoggedEvent(
        id=event_id,
        name=name,
        groups=frozenset(fields.get("g", "").split()),
        frame=event_frame(event_id=event_id, name=name, data_json=fields.get("d", "null")),
    )


async def log_last_id(client: Any, *, maxlen: int) -> str:
    """The id of the newest event in the log.

    An empty log (a new installation, a Redis that lost its data) is started with an entry no
    console sees, so the id given now stays valid for a resume (an id below the log's floor asks
    for a resync).
    """
    newest = await client.xrevrange(STREAM_KEY, "+", "-", count=1)
    if newest:
        return _text(newest[0][0])
    args = [maxlen, "", START, "", "null"]
    try:
        ids = await client.evalsha(_APPEND_SHA, 2, STREAM_KEY, FLOOR_KEY, *args)
    except NoScriptError:
        ids = await client.eval(_APPEND_LUA, 2, STREAM_KEY, FLOOR_KEY, *args)
    return _text(ids[0])


async def log_read_after(client: Any, after: str, *, count: int) -> LogPage:
    """Up to ``count`` events after ``after``, in order, read together with the log's bounds."""
    cursor = parse_event_id(after)
    if cursor is None:
        raise ValueError(f"Not an event id: {after!r}")
    async with client.pipeline(transaction=True) as pipe:
        pipe.get(FLOOR_KEY)
        pipe.xrevrange(STREAM_KEY, "+", "-", count=1)
        pipe.xrange(STREAM_KEY, f"({after}", "+", count=count)
        floor_raw, newest, entries = await pipe.execute()
    last_id = _text(newest[0][0]) if newest else ZERO_ID
    floor = parse_event_id(_text(floor_raw)) if floor_raw else None
    gap = cursor > parse_event_id(last_id) or (floor is not None and cursor < floor)
    return LogPage(events=[] if gap else [_logged(i, f) for i, f in entries], gap=gap, last_id=last_id)


def visible_to(event: LoggedEvent, groups: Iterable[str]) -> bool:
    return not event.groups.isdisjoint(groups)
