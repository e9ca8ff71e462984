"""Recognition paces itself while customers' messages flow (conversations/services/activity.py)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import FakeClock
from conversations.services.activity import (
    ACTIVE_FOR_MS,
    ACTIVE_KEY,
    MARK_EVERY,
    READ_EVERY,
    messages_flowing,
    messages_flowing_mark,
    recognition_rest,
)


@pytest.fixture
def clock(redis_client: Any) -> FakeClock:
    redis_client.delete(ACTIVE_KEY)
    return FakeClock(10_000_000.0)  # far from any other clock the module saw


def test_a_drain_marks_the_flow_for_two_seconds_at_most_twice_a_second(clock: FakeClock, redis_client: Any) -> None:
    messages_flowing_mark(clock=clock)
    assert 0 < redis_client.pttl(ACTIVE_KEY) <= ACTIVE_FOR_MS
    redis_client.delete(ACTIVE_KEY)
    clock.advance(MARK_EVERY / 2)
    messages_flowing_mark(clock=clock)  # too soon: no round trip
    assert not redis_client.exists(ACTIVE_KEY)
    clock.advance(MARK_EVERY / 2)
    messages_flowing_mark(clock=clock)
    assert redis_client.exists(ACTIVE_KEY)


def test_the_flow_is_read_at_most_twice_a_second(clock: FakeClock, redis_client: Any) -> None:
    clock.advance(1.0)
    assert messages_flowing(clock=clock) is False
    redis_client.set(ACTIVE_KEY, "1", px=ACTIVE_FOR_MS)
    assert messages_flowing(clock=clock) is False  # the last reading still stands
    clock.advance(READ_EVERY)
    assert messages_flowing(clock=clock) is True
    redis_client.delete(ACTIVE_KEY)  # the flow stopped (the key expired)
    clock.advance(READ_EVERY)
    assert messages_flowing(clock=clock) is False


def test_while_messages_flow_recognition_rests_to_work_its_duty(settings: Any) -> None:
    settings.RECOGNITION_DUTY_WHILE_TEXTS = 0.25
    slept: list[float] = []
    assert recognition_rest(0.04, flowing=lambda: True, sleep=slept.append) == pytest.approx(0.12)
    assert slept == [pytest.approx(0.12)]  # works 0.04 s of every 0.16 s: a quarter


def test_no_rest_when_no_message_flows_when_switched_off_or_after_no_work(settings: Any) -> None:
    slept: list[float] = []
    settings.RECOGNITION_DUTY_WHILE_TEXTS = 0.33
    assert recognition_rest(0.04, flowing=lambda: False, sleep=slept.append) == 0.0
    assert recognition_rest(0.0, flowing=lambda: True, sleep=slept.append) == 0.0
    settings.RECOGNITION_DUTY_WHILE_TEXTS = 1.0
    assert recognition_rest(0.04, flowing=lambda: True, sleep=slept.append) == 0.0
    assert slept == []


def test_by_default_recognition_works_15_percent_of_the_time_while_messages_flow() -> None:
    """bench/voice_burst.sh: at 33 % texts were 15.8 % slower at p95 beside three bursts; at 15 %, -6.3 to +6.8 %."""
    slept: list[float] = []
    rested = recognition_rest(0.03, flowing=lambda: True, sleep=slept.append)
    assert rested == pytest.approx(0.03 * (1 / 0.15 - 1)) and slept == [rested]
