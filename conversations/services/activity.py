"""Whether customers' messages are flowing through the pipeline right now, so recognition can pace itself.

Speech recognition runs at idle CPU priority on its own worker (and core, with MEDIA_WORKER_CPUS), yet
on a small host it still slows text replies: its acoustic model streams through the memory and the
cache the cores share (bench/voice_burst.sh: +11 to +25 % at p95 for texts beside a burst of voice
notes). So while messages flow, Vosk works at a duty cycle (RECOGNITION_DUTY_WHILE_TEXTS: it rests
between chunks), and at full speed once they stop.

The pipeline marks the flow in Redis at most twice a second per process (a key that lives
ACTIVE_FOR_MS), whoever drains the deliveries (the runner or a Celery drain task); recognition reads
it at most twice a second. Both are one small round trip, off the hot path of a single message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from django.conf import settings

from whatsapp_ia.redis_client import redis_client

logger = logging.getLogger(__name__)

ACTIVE_KEY = "wia:pipeline:active"
ACTIVE_FOR_MS = 2_000  # the flow counts as stopped this long after the last delivery drained
MARK_EVERY = 0.5  # seconds between two marks of one process
READ_EVERY = 0.5  # seconds recognition trusts its last reading

_marked_at = float("-inf")
_read_at = float("-inf")
_read_value = False


def messages_flowing_mark(*, clock: Callable[[], float] = time.monotonic) -> None:
    """Deliveries were drained just now (never raises: recognition pacing is not worth a failed turn)."""
    global _marked_at
    now = clock()
    if abs(now - _marked_at) < MARK_EVERY:  # abs: another clock (a test's) may have set it
        return
    _marked_at = now
    try:
        redis_client().set(ACTIVE_KEY, "1", px=ACTIVE_FOR_MS)
    except redis.RedisError as exc:
        logger.debug("Could not mark the pipeline active: %s", exc)


def messages_flowing(*, clock: Callable[[], float] = time.monotonic) -> bool:
    """Whether deliveries were drained in the last ACTIVE_FOR_MS (read at most every READ_EVERY seconds)."""
    global _read_at, _read_value
    now = clock()
    if abs(now - _read_at) >= READ_EVERY:
        try:
            _read_value = bool(redis_client().exists(ACTIVE_KEY))
        except redis.RedisError:
            _read_value = False  # no Redis, no pacing: recognition goes on at full speed
        _read_at = now
    return _read_value


def recognition_rest(
    worked: float,
    *,
    flowing: Callable[[], bool] = messages_flowing,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """After a chunk of recognition that took ``worked`` seconds: rest so that, while messages flow, it
    works RECOGNITION_DUTY_WHILE_TEXTS of the time. Returns the seconds rested."""
    duty = float(settings.RECOGNITION_DUTY_WHILE_TEXTS or 1.0)
    if duty >= 1.0 or worked <= 0 or not flowing():
        return 0.0
    rest = worked * (1.0 / max(duty, 0.05) - 1.0)
    sleep(rest)
    return rest
