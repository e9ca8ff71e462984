"""Rejected webhook POSTs: only a few per client address are kept, the rest are counted.

A POST with a bad signature (or too large) is kept small (its metadata and first bytes)
so an admin can see a misconfigured secret; past WEBHOOK_REJECTED_PER_MINUTE from one
address in a minute it is answered 429 and not stored at all, and only counted here
(per day and address, in Redis) for the admin's delivery list and the log.
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings

from whatsapp_ia.redis_client import redis_client

logger = logging.getLogger(__name__)

DROPPED_KEPT_DAYS = 8
UNKNOWN_CLIENT = "unknown"


def _window_key(client: str, minute: int) -> str:
    return f"wia:webhook:rejected:{client}:{minute}"


def _dropped_key(day: str) -> str:
    return f"wia:webhook:dropped:{day}"


def _day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def rejected_post_admit(*, client: str, now: float | None = None) -> bool:
    """True when this client's rejected POST may be stored; False (and counted) past the per-minute limit.

    A fixed one-minute window per address: one Redis round trip for an admitted POST.
    Without Redis nothing rejected is stored (a flood must never reach the database).
    """
    now = time.time() if now is None else now
    client = client[:64] or UNKNOWN_CLIENT
    key = _window_key(client, int(now // 60))
    limit = settings.WEBHOOK_REJECTED_PER_MINUTE
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 120)
        count = pipe.execute()[0]
        if count <= limit:
            return True
        dropped = _dropped_key(_day(now))
        pipe.hincrby(dropped, client, 1)
        pipe.expire(dropped, DROPPED_KEPT_DAYS * 86400)
        pipe.execute()
    except redis.RedisError:
        logger.exception("Webhook: cannot count rejected POSTs from %s; this one is not stored", client)
        return False
    if count == limit + 1:  # once per address and minute, so the log cannot be flooded either
        logger.warning(
            "Webhook: %s sent more than %d rejected POSTs this minute; the rest are answered 429 and not stored",
            client,
            limit,
        )
    return False


def rejected_posts_dropped(*, days: int = 7, now: float | None = None) -> dict[str, int]:
    """Rejected POSTs refused by the rate limit (never stored) over the last `days` days, per client address."""
    now = time.time() if now is None else now
    totals: dict[str, int] = {}
    try:
        client = redis_client()
        for n in range(days):
            for address, count in client.hgetall(_dropped_key(_day(now - n * 86400))).items():
                name = address.decode("utf-8", errors="replace")
                totals[name] = totals.get(name, 0) + int(count)
    except redis.RedisError:
        logger.exception("Webhook: cannot read the counts of dropped POSTs")
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))
