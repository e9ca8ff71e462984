"""The shared rate limits in Redis: per-number slots are booked, per-customer buckets taken."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from conversations.services import ratelimit


def test_reserve_spaces_slots_by_the_rate_and_loses_none(redis_client: Any) -> None:
    waits = [ratelimit.reserve(key="t:num", rate=50, burst=1) for _ in range(10)]
    # 50/s = one slot every 20 ms: the n-th caller waits about n * 20 ms, nobody is refused.
    for n, wait in enumerate(waits):
        assert wait == pytest.approx(n * 0.02, abs=0.006)


def test_reserve_allows_a_burst_then_paces(redis_client: Any) -> None:
    waits = [ratelimit.reserve(key="t:burst", rate=10, burst=3) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.1, abs=0.01)
    assert waits[4] == pytest.approx(0.2, abs=0.01)


def test_concurrent_senders_never_exceed_the_rate(redis_client: Any) -> None:
    sends: list[float] = []
    lock = threading.Lock()

    def sender() -> None:
        for _ in range(10):
            wait = ratelimit.reserve(key="t:threads", rate=100, burst=1)
            time.sleep(wait)
            with lock:
                sends.append(time.monotonic())

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sends.sort()
    assert len(sends) == 80
    # Any 200 ms window holds at most 20 sends (+1 for edge alignment and scheduler jitter).
    worst = max(sum(1 for s in sends if start <= s < start + 0.2) for start in sends)
    assert worst <= 22
    assert sends[-1] - sends[0] >= 0.75  # 80 sends at 100/s take about 0.8 s


def test_take_refuses_when_the_bucket_is_empty(redis_client: Any) -> None:
    assert ratelimit.take(key="t:pair", rate=1 / 6, burst=2) == 0.0
    assert ratelimit.take(key="t:pair", rate=1 / 6, burst=2) == 0.0
    wait = ratelimit.take(key="t:pair", rate=1 / 6, burst=2)
    assert 5 < wait <= 6


def test_zero_rate_means_unlimited(redis_client: Any) -> None:
    assert ratelimit.reserve(key="t:off", rate=0, burst=1) == 0.0
    assert ratelimit.take(key="t:off", rate=0, burst=1) == 0.0


def window(limit: int = 5, window: float = 1.0) -> tuple[float, ratelimit.WindowEntry | None]:
    return ratelimit.window_enter(key="t:win", limit=limit, hold=30, window=window)


def test_the_window_counts_a_send_until_a_window_after_its_answer(redis_client: Any) -> None:
    entries = [window() for _ in range(5)]
    assert [wait for wait, _ in entries] == [0.0] * 5 and all(entry for _, entry in entries)
    assert window() == (0.02, None)  # all five in flight: poll, any answer frees a place
    time.sleep(0.3)
    for _, entry in entries:
        ratelimit.window_answered(entry)
    wait, entry = window()
    assert 0.5 < wait <= 1.0 and entry is None  # the 6th waits a window after the 1st answer
    time.sleep(wait)
    assert window()[0] == 0.0


def test_a_send_never_answered_leaves_the_window_after_the_hold(redis_client: Any) -> None:
    for _ in range(2):
        assert ratelimit.window_enter(key="t:win", limit=2, hold=0.2, window=0.1)[0] == 0.0
    wait, _ = ratelimit.window_enter(key="t:win", limit=2, hold=0.2, window=0.1)
    assert wait == 0.02
    time.sleep(0.31)  # hold + window: a worker that died mid-send does not keep its place
    assert ratelimit.window_enter(key="t:win", limit=2, hold=0.2, window=0.1)[0] == 0.0


def test_window_limit_zero_turns_it_off(redis_client: Any) -> None:
    assert window(limit=0) == (0.0, None)
    ratelimit.window_answered(None)  # nothing to record


def test_whatever_the_delays_no_window_of_arrivals_holds_more_than_the_limit(redis_client: Any) -> None:
    """Senders that stall at random between the check and the provider (up to 3x the window's length)
    never put more than `limit` arrivals in any window-long stretch of the provider's."""
    limit, length, sends = 4, 0.05, 200
    arrivals: list[float] = []
    lock = threading.Lock()
    rng = random.Random(7)
    delays = [(rng.uniform(0, 0.15) if rng.random() < 0.3 else 0.0, rng.uniform(0, 0.01)) for _ in range(sends)]

    def sender(mine: list[tuple[float, float]]) -> None:
        for to_provider, back in mine:
            while True:
                wait, entry = ratelimit.window_enter(key="t:prop", limit=limit, hold=30, window=length, poll=0.002)
                if not wait:
                    break
                time.sleep(wait)
            time.sleep(to_provider)
            with lock:
                arrivals.append(time.time())
            time.sleep(back)
            ratelimit.window_answered(entry)

    threads = [threading.Thread(target=sender, args=(delays[n::8],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    arrivals.sort()
    assert len(arrivals) == sends
    busiest = max(sum(1 for b in arrivals[i:] if b - a < length) for i, a in enumerate(arrivals))
    assert busiest <= limit


def test_take_then_reserve_books_a_slot_only_when_the_bucket_gives_its_token(redis_client: Any) -> None:
    def call() -> ratelimit.TakeReserve:
        return ratelimit.take_then_reserve(
            bucket_key="t:tr:pair", bucket_rate=1 / 6, bucket_burst=2, slot_key="t:tr:num", slot_rate=10, slot_burst=1
        )

    assert call() == ratelimit.TakeReserve(0.0, 0.0, 0.0)  # one token is left
    second = call()
    assert second.bucket_wait == 0.0 and second.slot_wait == pytest.approx(0.1, abs=0.01)  # the next slot
    assert 5 < second.bucket_next <= 6  # the bucket is empty now, and says so
    third = call()
    assert 5 < third.bucket_wait <= 6 and third.slot_wait == 0.0  # refused: no slot booked ...
    # ... so this reservation gets the third slot.
    assert ratelimit.reserve(key="t:tr:num", rate=10, burst=1) == pytest.approx(0.2, abs=0.01)


def test_take_then_reserve_with_a_part_turned_off(redis_client: Any) -> None:
    both_off = ratelimit.take_then_reserve(
        bucket_key="t:tr0:pair", bucket_rate=0, bucket_burst=1, slot_key="t:tr0:num", slot_rate=0, slot_burst=1
    )
    assert both_off == ratelimit.TakeReserve(0.0, 0.0, 0.0)
    for expected in (0.0, 0.1):
        no_bucket = ratelimit.take_then_reserve(
            bucket_key="t:tr1:pair", bucket_rate=0, bucket_burst=1, slot_key="t:tr1:num", slot_rate=10, slot_burst=1
        )
        assert no_bucket.bucket_wait == 0.0 and no_bucket.slot_wait == pytest.approx(expected, abs=0.01)
    for pair_expected in (0.0, 6.0):
        no_slots = ratelimit.take_then_reserve(
            bucket_key="t:tr2:pair", bucket_rate=1 / 6, bucket_burst=1, slot_key="t:tr2:num", slot_rate=0, slot_burst=1
        )
        assert no_slots.slot_wait == 0.0 and no_slots.bucket_wait == pytest.approx(pair_expected, abs=0.01)
