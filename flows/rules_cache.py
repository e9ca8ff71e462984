"""The active rules and global commands, kept per process and reloaded only when they change.

Every inbound message runs the rule engine over all active rules and commands. Loading them
from the database and turning them into the engine's frozen dataclasses took about 3.5 ms of
CPU per message with the demo's 30 rules (three queries and the objects), the same work each
time. Now each process keeps one copy, keyed by a version token in Redis. Every change to a
rule, a rule's media or a global command replaces the token: signals registered in
FlowsConfig.ready, and the admin's bulk actions, which send no signal. The token is random, not
a counter, so a Redis restarted without its data cannot count back up to a version a process
already holds. A turn asks Redis for the token (one GET, at most every RULES_VERSION_CHECK_EVERY
seconds: another process's change shows within half a second) and reloads only when it moved.

The token is replaced when the change is made and again after its transaction commits: the
first makes the changing process itself (the admin's "Try the bot") see the change at once; the
second makes sure a process that reloaded between the two (seeing the old rows, since the change
was not committed yet) reloads once more. (A process that changes rules and runs the engine in
one transaction that then rolls back would keep the rolled-back rules until the next change:
nothing in the product does that, but each test does, so the tests clear the copy.)
RULES_CACHE_MAX_AGE bounds how long a copy is trusted when the token did not move (a change
made by hand in the database), and without Redis every turn reads the database as before.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from django.db import transaction

from flows.engine import CommandData, RuleData
from whatsapp_ia.redis_client import redis_client

logger = logging.getLogger(__name__)

RULES_VERSION_KEY = "wia:flows:rules-version"
RULES_CACHE_MAX_AGE = 60.0  # seconds a process trusts its copy without a version change
RULES_VERSION_CHECK_EVERY = 0.5  # seconds between two reads of the version (a turn within them asks nobody)


@dataclass
class _Copy:
    version: str
    loaded_at: float  # time.monotonic()
    rules: list[RuleData]
    commands: list[CommandData]
    checked_at: float = 0.0  # when the version in Redis was last seen to be this copy's


_copy: _Copy | None = None


def rules_version_bump() -> None:
    """Tell every process the rules changed (now, and again once the current transaction commits)."""
    _bump()
    transaction.on_commit(_bump, robust=True)


def _bump() -> None:
    global _copy
    _copy = None  # this process reloads whatever Redis says
    try:
        redis_client().set(RULES_VERSION_KEY, uuid.uuid4().hex)
    except redis.RedisError:
        logger.warning("Could not announce a rules change in Redis; other processes see it within %.0f s",
                       RULES_CACHE_MAX_AGE)  # fmt: skip


def rules_cache_clear() -> None:
    """Forget this process's copy (tests: each test's rules are rolled back with its transaction)."""
    global _copy
    _copy = None


def rules_changed(**_: Any) -> None:
    """Signal receiver for saves and deletes of rules, rule media and global commands."""
    rules_version_bump()


def rules_and_commands(*, now: float | None = None) -> tuple[list[RuleData], list[CommandData]]:
    """The active rules and commands as the engine takes them, from this process's copy when current."""
    from flows.services import active_commands, active_rules

    global _copy
    at = time.monotonic() if now is None else now
    copy = _copy
    fresh = copy is not None and at - copy.loaded_at < RULES_CACHE_MAX_AGE
    if fresh and copy is not None and at - copy.checked_at < RULES_VERSION_CHECK_EVERY:
        return copy.rules, copy.commands  # at 80 messages/s, one GET every half second instead of 40
    try:
        version = (redis_client().get(RULES_VERSION_KEY) or b"").decode()
    except redis.RedisError:
        return active_rules(), active_commands()
    if copy is not None and copy.version == version and at - copy.loaded_at < RULES_CACHE_MAX_AGE:
        copy.checked_at = at
        return copy.rules, copy.commands
    rules, commands = active_rules(), active_commands()
    _copy = _Copy(version, at, rules, commands, checked_at=at)
    return rules, commands
