"""The pipeline runner: one long-lived process that turns stored webhook deliveries into answers.

The webhook stores each delivery (durable before its 200) and rings the runner's doorbell, a
Redis list kept at one entry (LPUSH + LTRIM, in one script that sets the lanes' kick flags only
when no runner is alive). The runner waits on it with BLPOP, then drains every lane it holds: each delivery is parsed,
its messages stored and answered in one transaction, and the replies sent right after the
commit (``ingest.deliveries_drain_locked``). No Celery task is published or consumed per
message: at 80 messages/s a task's publish, pickup and bookkeeping cost more CPU than the
turn itself. Celery keeps what must wait (media downloads, enrichment, AI turns, retries,
pacing waits) and is the fallback: while no runner announces itself (``RUNNER_KEY``, renewed
every second, lives RUNNER_TTL seconds), the webhook enqueues drain tasks as before.

Lanes: the runner holds each lane's drain lock for its whole life (renewed by the lock
renewer), so drain tasks and a second runner leave them alone. A second runner is a hot
standby: it takes the lanes whose lock frees (the first one stopped or died) within seconds.
Taking lanes counts one attempt on their oldest delivery still received, the one a holder that died
was working on (``ingest.deliveries_count_in_hand``): the drain itself writes no attempt per delivery.
A ring can only follow a commit, and the runner reads after it pops the ring, so no delivery
waits for a later message; the wake-up every WAKE_EVERY seconds drains anything else (a ring
lost with a Redis restart).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections, connection

from conversations import events
from conversations.services.outbound import sent_records_apply, sent_records_defer, sent_records_pending
from whatsapp_ia.locks import HeldLock, conversation_lock
from whatsapp_ia.redis_client import redis_client, redis_script

logger = logging.getLogger(__name__)

DOORBELL_KEY = "wia:pipeline:doorbell"
RUNNER_KEY = "wia:pipeline:runner"
RUNNER_TTL = 5.0  # seconds the runner's announcement lives without renewal
HEARTBEAT_EVERY = 1.0
WAKE_EVERY = 1.0  # seconds the runner sleeps at most without a ring
TAKE_LANES_EVERY = 3.0  # seconds between tries at the lanes another runner holds
# Seconds a reply's "sent" write waits for the next turn to ride with (a delivery usually rings sooner
# under load); after that the runner writes it on its own. The status shown meanwhile is "sending".
SENT_WRITE_DELAY = 0.05


# The webhook's kick, one round trip: ring the doorbell; then, only when no runner is alive, set the
# lanes' kick flags (SET NX: 1 for the first kick of a burst, which enqueues a drain task). While a
# runner lives no flag is set, so it never has to clear or check any: the ring is all it needs.
_KICK_LUA = """
redis.call('LPUSH', KEYS[1], '1')
redis.call('LTRIM', KEYS[1], 0, 0)
if redis.call('EXISTS', KEYS[2]) == 1 then return {1} end
local replies = {0}
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then replies[i - 1] = 1 else replies[i - 1] = 0 end
end
return replies
"""


def doorbell_ring(*, flag_keys: Sequence[str], flag_ttl: int) -> list[bool] | None:
    """Ring the runner's doorbell; None when a runner is alive, else for each flag whether this kick set it."""
    replies = redis_script(_KICK_LUA)(keys=[DOORBELL_KEY, RUNNER_KEY, *flag_keys], args=[flag_ttl])
    if replies[0]:
        return None
    return [bool(r) for r in replies[1:]]


def runner_alive() -> bool:
    return bool(redis_client().exists(RUNNER_KEY))


class SendPool(ThreadPoolExecutor):
    """The runner's sender threads, knowing whether any reply is still on its way."""

    def __init__(self, threads: int) -> None:
        super().__init__(max_workers=threads, thread_name_prefix="pipeline-send")
        self._lock = threading.Lock()
        self._in_flight = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._in_flight += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Any) -> None:
        with self._lock:
            self._in_flight -= 1

    def busy(self) -> bool:
        return self._in_flight > 0


_pool: SendPool | None = None


def send_pool() -> SendPool | None:
    """The runner's sender threads (None outside the runner: replies are sent by the caller)."""
    return _pool


class PipelineRunner:
    """Drain the held lanes whenever the doorbell rings; see the module docstring."""

    def __init__(self, *, stop: threading.Event | None = None, wake_every: float = WAKE_EVERY) -> None:
        self.stop = stop or threading.Event()
        self.wake_every = wake_every
        self.held: dict[int, HeldLock] = {}
        self._stack = ExitStack()
        self._announced_at = 0.0
        self._lanes_tried_at = 0.0

    def run(self) -> None:
        from conversations.services.ingest import deliveries_drain_locked

        global _pool
        client = redis_client()
        # This thread's database connection lives as a worker's does (WORKER_DB_CONN_MAX_AGE), not as a web
        # request's (DB_CONN_MAX_AGE, 0 under Daphne): the quiet wakes below drop it only when it broke or
        # aged, where each of them (one a second while idle) used to pay a new connection.
        connection.settings_dict = {**connection.settings_dict, "CONN_MAX_AGE": settings.WORKER_DB_CONN_MAX_AGE}
        events.broadcast_inline()
        self._stack.callback(events.broadcast_inline, False)  # as it was, once the runner stops
        if settings.PIPELINE_SEND_THREADS > 0:  # 0: the runner sends each turn's replies itself
            _pool = SendPool(settings.PIPELINE_SEND_THREADS)
            # The sender threads leave their "sent" writes to this thread (see outbound._mark_sent): the
            # next turn writes them in its transaction, or _wait on their own after SENT_WRITE_DELAY.
            sent_records_defer()
        self._stack.callback(self._pool_stop)
        with self._stack:
            while not self.stop.is_set():
                self._announce()
                self._take_lanes()
                lanes = sorted(self.held)
                try:
                    more = bool(lanes)
                    while more and not self.stop.is_set():
                        more = deliveries_drain_locked(lanes=lanes, flags=False, count=False)
                except Exception:  # reading the lanes failed (each delivery's own failure is kept on it)
                    logger.exception("Pipeline runner could not drain lanes %s; trying again", lanes)
                    close_old_connections()
                    self.stop.wait(self.wake_every)
                try:
                    rang = self._wait(client)
                except redis.RedisError:
                    logger.warning("Pipeline runner cannot reach Redis; retrying", exc_info=True)
                    self.stop.wait(self.wake_every)
                    rang = None
                except Exception:
                    logger.exception("Pipeline runner could not record sent replies; trying again")
                    close_old_connections()
                    rang = None
                if rang is None:
                    close_old_connections()  # quiet: drop a database connection that broke or aged
        self._withdraw()

    def _wait(self, client: redis.Redis) -> Any:
        """Wait for the doorbell (a delivery to drain); None after WAKE_EVERY seconds without one (or at a
        heartbeat). While replies are on their way or their "sent" writes queued, it waits at most
        SENT_WRITE_DELAY at a time for a turn to write them with; when none comes, it writes them itself."""
        started = time.monotonic()
        while True:
            left = self.wake_every - (time.monotonic() - started)
            if left <= 0 or self.stop.is_set():
                sent_records_apply()
                return None
            sending = sent_records_pending() or (_pool is not None and _pool.busy())
            timeout = min(left, SENT_WRITE_DELAY) if sending else left
            rang = client.blpop([DOORBELL_KEY], timeout=max(timeout, 0.01))
            if rang is not None:
                return rang  # the next turn writes the queued "sent" records in its transaction
            sent_records_apply()
            if time.monotonic() - self._announced_at >= HEARTBEAT_EVERY:
                return None  # the announcement is renewed on time

    @staticmethod
    def _pool_stop() -> None:
        """Let the sender threads finish the replies they hold (their turns are committed), then stop them."""
        global _pool
        pool, _pool = _pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        try:
            sent_records_apply(stop_deferring=True)
        except Exception:  # the sweeper puts back what stays "sending"; the status webhooks mark it sent
            logger.exception("Pipeline runner could not record the last sent replies")

    def _announce(self) -> None:
        """Every second: renew the announcement, and clear the held lanes' kick flags (set while no
        runner was alive) so that, should this runner die, the next kick enqueues a drain task at once."""
        from conversations.services.ingest import kick_key

        now = time.monotonic()
        if now - self._announced_at < HEARTBEAT_EVERY:
            return
        try:
            pipe = redis_client().pipeline(transaction=False)
            pipe.set(RUNNER_KEY, str(os.getpid()), px=int(RUNNER_TTL * 1000))
            if self.held:
                pipe.delete(*(kick_key(lane) for lane in self.held))
            pipe.execute()
            self._announced_at = now
        except redis.RedisError:
            logger.warning("Pipeline runner could not announce itself", exc_info=True)

    def _withdraw(self) -> None:
        with suppress(redis.RedisError):
            redis_client().delete(RUNNER_KEY)

    def _take_lanes(self) -> None:
        """Every few seconds: drop the lanes whose lock was lost (fencing), take the free ones."""
        from conversations.services.ingest import deliveries_count_in_hand

        now = time.monotonic()
        if now - self._lanes_tried_at < TAKE_LANES_EVERY:
            return
        self._lanes_tried_at = now
        for lane, held in list(self.held.items()):
            if not held.owned():
                logger.warning("Pipeline runner lost lane %s; trying to take it again", lane)
                del self.held[lane]
        taken = []
        for lane in range(settings.DELIVERY_LANES):
            if lane in self.held:
                continue
            held = self._stack.enter_context(conversation_lock("drain", lane))
            if held:
                self.held[lane] = held
                taken.append(lane)
        if taken:  # what the lanes' last holder may have died on counts one attempt (the drain counts none)
            try:
                deliveries_count_in_hand(lanes=taken)
            except Exception:
                logger.exception("Pipeline runner could not count the attempt on lanes %s", taken)
                close_old_connections()
        if len(self.held) < settings.DELIVERY_LANES:
            logger.info("Pipeline runner holds lanes %s; another holds the rest", sorted(self.held))
