"""Real-time events for agent consoles: names, groups and the after-commit broadcast.

``broadcast_on_commit`` is on the message pipeline's hot path. The caller only registers an
after-commit hook; once the transaction commits, the hook hands the event to this process's
broadcaster thread (a queue put, no I/O). The thread takes every event queued meanwhile (all the
events of a transaction, whose hooks run back to back, and those of concurrent transactions) and
logs and publishes them with one Redis round trip (conversations/services/event_log.py): each
event gets its monotonic id in the console event log, and reaches the consoles through the
Channels pub/sub layer on Redis.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction

from conversations.services import event_log
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

_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")  # goes into the frame's JSON as it is

# Who receives a conversation's events is decided with who may see it: conversations.visibility.


def group_channel_prefix() -> str:
    """The Redis channel prefix of a console group in the pub/sub channel layer (see event_log)."""
    layer = settings.CHANNEL_LAYERS.get("default", {})
    return f"{layer.get('CONFIG', {}).get('prefix', 'asgi')}__group__"


class _Broadcaster:
    """One sending thread per process; callers hand events over and return at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[event_log.PendingEvent] | None = None
        self._pid: int | None = None
        self.batches_sent = 0  # round trips, for the benchmark and tests

    def _process_queue(self) -> queue.SimpleQueue[event_log.PendingEvent]:
        with self._lock:
            if self._queue is None or self._pid != os.getpid():  # new process (after a fork): new thread
                self._queue, self._pid = queue.SimpleQueue(), os.getpid()
                threading.Thread(target=self._run, args=(self._queue,), name="console-events", daemon=True).start()
            return self._queue

    def submit(self, event: event_log.PendingEvent) -> None:
        self._process_queue().put(event)

    def _run(self, pending: queue.SimpleQueue[event_log.PendingEvent]) -> None:
        from whatsapp_ia.redis_client import redis_client

        while True:
            batch = [pending.get()]
            while True:
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            try:
                event_log.events_append(
                    redis_client(), batch, maxlen=settings.CONSOLE_EVENT_LOG_MAX, group_prefix=group_channel_prefix()
                )
                self.batches_sent += 1
            except Exception:  # never lose the write that caused the event; consoles resync on reconnect
                logger.warning("Console broadcast of %d event(s) failed", len(batch), exc_info=True)


_broadcaster = _Broadcaster()


def broadcast_on_commit(*, groups: Iterable[str], name: str, data: dict[str, Any]) -> None:
    """Log and push an event to the consoles of ``groups`` once the surrounding transaction commits.

    Never blocks on Redis: the event is sent by this process's broadcaster thread.
    """
    if not _EVENT_NAME.match(name):
        raise ValueError(f"Invalid console event name: {name!r}")
    event = event_log.PendingEvent(name=name, groups=tuple(groups), data=data)
    transaction.on_commit(lambda: _broadcaster.submit(event), robust=True)
