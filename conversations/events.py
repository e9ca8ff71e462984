"""Real-time events for agent consoles: names, groups and the after-commit broadcast.

``broadcast_on_commit`` is on the message pipeline's hot path. The events of one transaction are
gathered into one batch that is handed, once the transaction commits, to this process's
broadcaster thread (a queue put: the caller never waits for Redis). The thread logs and publishes
each batch (and any other batch queued meanwhile) with one Redis round trip
(conversations/services/event_log.py): each event gets its monotonic id in the console event log
and reaches the consoles through the Channels pub/sub layer on Redis.

One batch per transaction: the batch's one on-commit hook, kept at the end of the transaction's
hooks, hands its events over. An event in a savepoint opened after the batch began adds a plain
on-commit hook that marks it committed (Django drops that hook if the savepoint rolls back).
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
        self._queue: queue.SimpleQueue[list[event_log.PendingEvent]] | None = None
        self._pid: int | None = None
        self.batches_submitted = 0  # committed transactions with events (for the benchmark and tests)
        self.batches_sent = 0  # Redis round trips

    def _process_queue(self) -> queue.SimpleQueue[list[event_log.PendingEvent]]:
        with self._lock:
            if self._queue is None or self._pid != os.getpid():  # new process (after a fork): new thread
                self._queue, self._pid = queue.SimpleQueue(), os.getpid()
                threading.Thread(target=self._run, args=(self._queue,), name="console-events", daemon=True).start()
            return self._queue

    def submit(self, batch: list[event_log.PendingEvent]) -> None:
        if batch:
            self.batches_submitted += 1
            if self.inline:
                self._send(batch)
            else:
                self._process_queue().put(batch)

    inline = False  # set by a process whose callers may wait for Redis (the pipeline runner)

    def _send(self, batch: list[event_log.PendingEvent]) -> None:
        from whatsapp_ia.redis_client import redis_client

        try:
            event_log.events_append(
                redis_client(), batch, maxlen=settings.CONSOLE_EVENT_LOG_MAX, group_prefix=group_channel_prefix()
            )
            self.batches_sent += 1
        except Exception:  # never lose the write that caused the event; consoles resync on reconnect
            logger.warning("Console broadcast of %d event(s) failed", len(batch), exc_info=True)

    def _run(self, pending: queue.SimpleQueue[list[event_log.PendingEvent]]) -> None:
        while True:
            batch = pending.get()
            while True:
                try:
                    batch += pending.get_nowait()
                except queue.Empty:
                    break
            self._send(batch)


_broadcaster = _Broadcaster()


def broadcast_inline(enabled: bool = True) -> None:
    """From now on this process sends each committed transaction's events itself, in the caller's
    thread (the pipeline runner, whose threads may wait for Redis): no hand-over to the broadcaster
    thread, whose wake-up per transaction cost the runner more than the Redis call it saves."""
    _broadcaster.inline = enabled


class _TransactionBatch:
    """The events of one transaction; handed over by its last hook, after the events' own hooks."""

    def __init__(self, savepoint_ids: set[str]) -> None:
        self.events: list[tuple[int, event_log.PendingEvent]] = []  # (order of the call, event)
        self.calls = 0
        self.savepoint_ids = savepoint_ids
        self.callback = self.hand_over  # one object: Django rebuilds the hook tuples on a savepoint rollback
        self.hook = (savepoint_ids, self.callback, True)  # dropped with the savepoint it began in, as its events

    def hand_over(self) -> None:
        _broadcaster.submit([event for _, event in sorted(self.events, key=lambda item: item[0])])


def _batch_for(connection: Any) -> _TransactionBatch:
    """This transaction's batch, its hand-over hook moved to the end of the transaction's hooks."""
    hooks: list[Any] = connection.run_on_commit
    batch: _TransactionBatch | None = getattr(connection, "_console_batch", None)
    if batch is not None:
        for position in range(len(hooks) - 1, -1, -1):
            if hooks[position][1] is batch.callback:
                del hooks[position]
                break
        else:  # hooks of an earlier transaction (ran or rolled back), or of a rolled-back savepoint
            batch = None
    if batch is None:
        batch = connection._console_batch = _TransactionBatch(set(connection.savepoint_ids))
    hooks.append(batch.hook)
    return batch


def broadcast_on_commit(*, groups: Iterable[str], name: str, data: dict[str, Any]) -> None:
    """Log and push an event to the consoles of ``groups`` once the surrounding transaction commits.

    Never blocks on Redis: the transaction's events are sent together by this process's
    broadcaster thread.
    """
    if not _EVENT_NAME.match(name):
        raise ValueError(f"Invalid console event name: {name!r}")
    event = event_log.PendingEvent(name=name, groups=tuple(groups), data=data)
    connection = transaction.get_connection()
    if not connection.in_atomic_block:  # autocommit: committed already
        _broadcaster.submit([event])
        return
    batch = _batch_for(connection)
    batch.calls += 1
    item = (batch.calls, event)
    if set(connection.savepoint_ids) <= batch.savepoint_ids:
        batch.events.append(item)  # rolled back exactly when the hand-over hook is
    else:  # in a savepoint opened since: kept only if Django keeps this hook (the savepoint commits)
        transaction.on_commit(lambda: batch.events.append(item), robust=True)
        _batch_for(connection)  # the hand-over hook back at the end, after the event's hook
