"""Agent console websocket (/ws/console/): authenticate, join the groups the user may see, forward
events with their ids, replay what a reconnecting console missed, and share who views which chat.

Protocol (CONSOLE-CONTRACT.md): the server says ``hello`` with the newest event id; a console
loading its state afresh loads it over REST after ``hello``; a reconnecting one sends
``{"type": "resume", "after": <last id seen>}`` and gets every event after it that it may see, in
order, then ``{"type": "resumed", "last_id": ...}`` (added to the contract: caught up), then the
live ones, none twice (ids are monotonic: conversations/services/event_log.py); ``resync`` when
the gap is too old (or when the user's roles changed: the console reloads its state over REST).
``{"type": "viewing", "conversation_id": n|null}`` (sent on every chat switch and as a heartbeat)
updates presence.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils.translation import gettext as _
from redis import asyncio as aioredis

from conversations.services import event_log, presence
from conversations.visibility import conversation_visible, groups_for, user_groups

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
REPLAY_PAGE = 500

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def _redis() -> aioredis.Redis:
    """One async Redis client (a connection pool) per event loop."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL)
    return client


class _LocalFanout:
    """Every console of this process (one per event loop) behind one channel-layer channel.

    That channel joins each console group some local console needs, once; an event published to
    a group reaches this process once and is handed to the group's local consoles directly (a
    console in two of the event's groups drops the second copy by its id), instead of going
    through one channel-layer queue, task wake-up and deserialisation per console.
    """

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.members: dict[str, set[ConsoleConsumer]] = {}
        self.channel: str | None = None
        self.lock = asyncio.Lock()
        self.reader: asyncio.Task | None = None

    async def join(self, consumer: ConsoleConsumer, groups: list[str]) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
                self.reader = asyncio.ensure_future(self._read())
            for group in groups:
                if group not in self.members:
                    self.members[group] = set()
                    await self.layer.group_add(group, self.channel)
                self.members[group].add(consumer)

    async def leave(self, consumer: ConsoleConsumer, groups: list[str]) -> None:
        async with self.lock:
            for group in groups:
                members = self.members.get(group)
                if members is None:
                    continue
                members.discard(consumer)
                if not members:
                    del self.members[group]
                    await self.layer.group_discard(group, self.channel)

    async def _read(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            for consumer in list(self.members.get(message.get("group"), ())):
                try:
                    await consumer.deliver(message)
                except Exception:  # one console's failure must not stop the others
                    logger.exception("Console delivery failed")


_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LocalFanout] = weakref.WeakKeyDictionary()


def _fanout(layer: Any) -> _LocalFanout:
    loop = asyncio.get_running_loop()
    fanout = _fanouts.get(loop)
    if fanout is None:
        fanout = _fanouts[loop] = _LocalFanout(layer)
    return fanout


def _fresh_user_and_groups(user_id: int) -> tuple[Any, list[str]]:
    """The user as the database has them now (roles and permissions may have changed) and their groups."""
    from accounts.models import User

    user = User.objects.filter(pk=user_id).first()
    return user, (user_groups(user) if user is not None else [])


def _viewable_chat_groups(user_id: int, conversation_id: int) -> list[str] | None:
    """The groups of a chat the user may see, or None (missing and out-of-role alike)."""
    from conversations.models import Conversation

    user, _groups = _fresh_user_and_groups(user_id)
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if user is None or conversation is None or not conversation_visible(user=user, conversation=conversation):
        return None
    return groups_for(conversation)


def _display_name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()).strip()


class ConsoleConsumer(AsyncWebsocketConsumer):
    user: Any = None
    groups_joined: list[str]
    live_floor: tuple[int, int]  # live delivery on this connection covers the ids after this one
    last_sent: tuple[int, int]  # the newest event id sent on this connection
    viewing: tuple[int, list[str]] | None = None  # (conversation id, its groups)
    held: list[tuple[tuple[int, int], str]] | None = None  # live events held while a replay runs

    async def connect(self) -> None:
        await self.accept()  # then close with a code the browser sees (a refused handshake shows none)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        _user, groups = await database_sync_to_async(_fresh_user_and_groups)(user.pk)
        if not groups:  # deactivated since the session began
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user, self.groups_joined, self.held = user, [], []
        self.live_floor = self.last_sent = (0, 0)
        await self._join(groups)
        # Subscribed first, then the newest id: every later event arrives live.
        last_id = await event_log.log_last_id(_redis(), maxlen=settings.CONSOLE_EVENT_LOG_MAX)
        self.live_floor = self.last_sent = event_log.parse_event_id(last_id) or (0, 0)
        await self._send_json({"type": "hello", "last_id": last_id, "heartbeat": settings.CONSOLE_PRESENCE_TTL / 3})
        await self._release_held()

    async def disconnect(self, code: int) -> None:
        if self.viewing is not None:
            await self._leave_viewing()
        if getattr(self, "groups_joined", None):
            await _fanout(self.channel_layer).leave(self, self.groups_joined)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user is None:
            return
        try:
            message = json.loads(text_data or "")
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "resume":
            await self._resume(message.get("after"))
        elif kind == "viewing":
            await self._viewing(message.get("conversation_id"))
        else:
            await self._error("bad_request", _("Unknown or malformed console message."))

    # -- events ---------------------------------------------------------------------------------

    async def deliver(self, message: dict[str, Any]) -> None:
        """A live message for one of this console's groups (from this process's fan-out)."""
        if message.get("type") == "console.presence":
            await self.send(text_data=message["frame"])
            return
        event_id = event_log.parse_event_id(message.get("id"))
        if event_id is None:
            return
        if self.held is not None:  # a replay is running: after it, in order
            self.held.append((event_id, message["frame"]))
            return
        await self._send_event(event_id, message["frame"])

    async def _send_event(self, event_id: tuple[int, int], frame: str) -> None:
        if event_id <= self.last_sent:  # sent already (replayed, or through another of its groups)
            return
        self.last_sent = event_id
        await self.send(text_data=frame)

    async def _release_held(self) -> None:
        while self.held:
            held, self.held = self.held, []
            for event_id, frame in held:
                await self._send_event(event_id, frame)
        self.held = None

    async def _resume(self, after: Any) -> None:
        if event_log.parse_event_id(after) is None:
            await self._error("bad_request", _("“after” must be an event id."))
            return
        self.held = self.held if self.held is not None else []
        try:
            if await self._replay(after):
                # Caught up: what follows is live (an addition to the contract's messages).
                await self._send_json({"type": "resumed", "last_id": "{}-{}".format(*self.last_sent)})
        finally:
            await self._release_held()

    async def _replay(self, after: str) -> bool:
        """Send the events after ``after`` this console may see; False when it must resync instead."""
        cursor = after
        while True:
            page = await event_log.log_read_after(_redis(), cursor, count=REPLAY_PAGE)
            if page.gap:
                await self._send_json({"type": "resync", "last_id": page.last_id})
                return False
            for event in page.events:
                event_id = event_log.parse_event_id(event.id)
                sent_live = self.live_floor < event_id <= self.last_sent
                if not sent_live and event_log.visible_to(event, self.groups_joined):
                    await self.send(text_data=event.frame)
            if page.events:
                cursor = page.events[-1].id
                self.last_sent = max(self.last_sent, event_log.parse_event_id(cursor))
            if len(page.events) < REPLAY_PAGE:
                return True

    # -- presence -------------------------------------------------------------------------------

    async def _viewing(self, conversation_id: Any) -> None:
        if conversation_id is not None and (type(conversation_id) is not int or conversation_id < 1):
            await self._error("bad_request", _("“conversation_id” must be a chat id or null."))
            return
        if not await self._refresh_groups():
            return
        if self.viewing is not None and self.viewing[0] != conversation_id:
            await self._leave_viewing()
        if conversation_id is None:
            return
        if self.viewing is None:
            groups = await database_sync_to_async(_viewable_chat_groups)(self.user.pk, conversation_id)
            if groups is None:
                await self._error("not_found", _("This chat does not exist or you may not see it."))
                return
            self.viewing = (conversation_id, groups)
        change = await presence.presence_view(
            _redis(), conversation_id=conversation_id, member=self._member(), now=time.time(), ttl=self._ttl()
        )
        await self._announce(conversation_id, change, to_self_anyway=True)

    async def _leave_viewing(self) -> None:
        conversation_id, _groups = self.viewing
        change = await presence.presence_leave(
            _redis(), conversation_id=conversation_id, member=self._member(), now=time.time(), ttl=self._ttl()
        )
        await self._announce(conversation_id, change, to_self_anyway=False)
        self.viewing = None

    async def _announce(self, conversation_id: int, change: presence.PresenceChange, *, to_self_anyway: bool) -> None:
        frame = json.dumps(
            {
                "type": "presence",
                "conversation_id": conversation_id,
                "viewers": [v.as_dict() for v in change.viewers],
            },
            ensure_ascii=False,
        )
        if change.changed:
            for group in self.viewing[1]:
                await self.channel_layer.group_send(group, {"type": "console.presence", "frame": frame, "group": group})
        elif to_self_anyway:
            await self.send(text_data=frame)

    def _member(self) -> str:
        name = _display_name(self.user)
        return presence.presence_member(user_id=self.user.pk, connection=self.channel_name, name=name)

    @staticmethod
    def _ttl() -> float:
        return float(settings.CONSOLE_PRESENCE_TTL)

    # -- who may see what -------------------------------------------------------------------------

    async def _refresh_groups(self) -> bool:
        """Re-apply the visibility rule (roles or permissions may have changed): on every heartbeat."""
        user, groups = await database_sync_to_async(_fresh_user_and_groups)(self.user.pk)
        if not groups:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return False
        if set(groups) != set(self.groups_joined):
            self.user = user
            await self._join(groups)
            # Chats appeared or vanished from what this console may see: it reloads its state.
            await self._send_json({"type": "resync", "last_id": "{}-{}".format(*self.last_sent)})
        return True

    async def _join(self, groups: list[str]) -> None:
        fanout = _fanout(self.channel_layer)
        await fanout.leave(self, [g for g in self.groups_joined if g not in groups])
        await fanout.join(self, [g for g in groups if g not in self.groups_joined])
        self.groups_joined = list(groups)

    async def _error(self, code: str, detail: str) -> None:
        await self._send_json({"type": "error", "code": code, "detail": detail})

    async def _send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, ensure_ascii=False))
