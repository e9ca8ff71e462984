"""Conversation locks: renewed while held, fenced when lost, and busy work backs off instead of spinning."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from whatsapp_ia.locks import conversation_lock, lock_busy_backoff, locks_renew_due


def test_a_held_lock_is_renewed_to_its_full_ttl(redis_client: Any) -> None:
    with conversation_lock("in", 901, timeout=30) as held:
        assert held and held.owned()
        redis_client.pexpire("wia:lock:in:901", 500)  # as if most of its TTL had passed
        assert locks_renew_due(now=time.monotonic() + 11) >= 1  # a third of the TTL later
        assert redis_client.pttl("wia:lock:in:901") > 20_000
    assert not redis_client.exists("wia:lock:in:901")  # released at the end


def test_a_lock_taken_over_by_another_worker_is_not_renewed_and_fails_the_fencing_check(redis_client: Any) -> None:
    with conversation_lock("in", 902, timeout=30) as held:
        redis_client.set("wia:lock:in:902", "another-worker", px=30_000)  # ours expired; someone else took it
        assert not held.owned()
        locks_renew_due(now=time.monotonic() + 11)
        assert redis_client.get("wia:lock:in:902") == b"another-worker"
    assert redis_client.get("wia:lock:in:902") == b"another-worker"  # not released from under its new holder
    redis_client.delete("wia:lock:in:902")


def test_a_busy_lock_is_falsy_for_the_second_worker() -> None:
    with conversation_lock("out", 903) as first, conversation_lock("out", 903) as second:
        assert first and not second and not second.owned()


def test_busy_backoff_doubles_up_to_a_cap() -> None:
    assert [lock_busy_backoff(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def _queued_tasks(redis_client: Any) -> list[tuple[str, list, float | None]]:
    """(task name, args, countdown-derived eta present) of every task message waiting in the broker."""
    tasks = []
    for raw in redis_client.lrange("celery", 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        tasks.append((message["headers"]["task"], args, message["headers"].get("eta")))
    return tasks


@pytest.mark.django_db
def test_processing_that_finds_its_conversation_busy_backs_off_instead_of_spinning(
    redis_client: Any, conversation: Any
) -> None:
    from conversations.tasks import conversation_process_task

    redis_client.delete("celery")
    with conversation_lock("in", conversation.pk):  # a dead worker's lock, still alive
        conversation_process_task.apply(args=(conversation.pk, 3))
    [(name, args, eta)] = _queued_tasks(redis_client)
    assert name == "conversations.tasks.conversation_process_task"
    assert args == [conversation.pk, 4]  # the fourth busy retry comes after lock_busy_backoff(3) = 4 s
    assert eta is not None
    redis_client.delete("celery")


@pytest.mark.django_db
def test_a_flush_that_finds_its_conversation_busy_backs_off_instead_of_spinning(
    redis_client: Any, conversation: Any
) -> None:
    from conversations.tasks import conversation_flush_outbound_task

    redis_client.delete("celery", f"wia:flush:pending:{conversation.pk}")
    with conversation_lock("out", conversation.pk):
        conversation_flush_outbound_task.apply(args=(conversation.pk, 5))
    [(name, args, _eta)] = _queued_tasks(redis_client)
    assert name == "conversations.tasks.conversation_flush_outbound_task"
    assert args == [conversation.pk, 6]
    assert redis_client.pttl(f"wia:flush:pending:{conversation.pk}") > 16_000  # lock_busy_backoff(5) = 16 s ahead
    redis_client.delete("celery", f"wia:flush:pending:{conversation.pk}")


def test_every_task_has_time_limits_and_the_short_ones_end_before_a_lock_expires(settings: Any) -> None:
    from whatsapp_ia.celery import app

    app.loader.import_default_modules()
    conf = app.conf
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit < settings.CONVERSATION_LOCK_TTL
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert "conversations.tasks.conversation_flush_outbound_task" in ours
    for name, task in ours.items():
        soft = task.soft_time_limit or conf.task_soft_time_limit
        hard = task.time_limit or conf.task_time_limit
        assert 0 < soft < hard, name
        assert hard < conf.broker_transport_options["visibility_timeout"], name  # never handed to a second worker
