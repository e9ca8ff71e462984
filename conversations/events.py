"""Real-time events for agent consoles: names, groups and the after-commit broadcast."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

from conversations.visibility import (  # noqa: F401 - re-exported: the broadcasters' groups
    GROUP_ALL,
    GROUP_UNROUTED,
    conversation_groups,
    groups_for,
    role_group,
    user_group,
)

logger = logging.getLogger(__name__)

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
CONVERSATION_UPDATED = "conversation.updated"

# Who receives a conversation's events is decided with who may see it: conversations.visibility.


class _Broadcaster:
    """One event loop per process, in a daemon thread, that sends console events.

    Callers (request threads, Celery workers) hand events over and return at
    once: no event loop and no Redis connection is created per event, which
    `async_to_sync(group_send)` would do (measured: about 7 ms per event).
    Events are best effort; a console reloads its state when it reconnects.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # new process (after a fork): new loop
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="console-events", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def submit(self, groups: list[str], payload: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(self._send(groups, payload), self._running_loop())

    @staticmethod
    async def _send(groups: list[str], payload: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            for group in groups:
                await layer.group_send(group, payload)
        except Exception:  # the console catches up on reconnect; never lose the write
            logger.warning("Console broadcast %s failed", payload.get("name"), exc_info=True)


_broadcaster = _Broadcaster()


def broadcast_on_commit(*, groups: Iterable[str], name: str, data: dict[str, Any]) -> None:
    """Push an event to consoles once the surrounding transaction commits (never blocks on Redis)."""
    payload = {"type": "console.event", "name": name, "data": data}
    group_names = list(groups)
    transaction.on_commit(lambda: _broadcaster.submit(group_names, payload), robust=True)
