"""The shared rate limits in Redis: per-number slots are booked, per-customer buckets taken.

Every call gets its moment from a FakeClock (`now=`), so the figures are exact and no
assertion depends on how fast or loaded the machine is; concurrency is checked by counts.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from typing import Any

import pytest

from conftest import FakeClock
from conversations.services import ratelimit

MS = 0.0011  # the scripts round waits up to whole milliseconds


def test_reserve_spaces_slots_by_the_rate_and_loses_none(redis_client: Any, clock: FakeClock) -> None:
    waits = [ratelimit.reserve(key="t:num", rate=50, burst=1, now=clock.now) for _ in range(10)]
    # 50/s = one slot every 20 ms: the n-th caller waits n * 20 ms, nobody is refused.
    for n, wait in enumerate(waits):
        assert wait == pytest.approx(n * 0.02, abs=MS)
    clock.advance(0.5)  # every booked slot is past: the next caller goes at once
    assert ratelimit.reserve(key="t:num", rate=50, burst=1, now=clock.now) == 0.0


def test_reserve_allows_a_burst_then_paces(redis_client: Any, clock: FakeClock) -> None:
    waits = [ratelimit.reserve(key="t:burst", rate=10, burst=3, now=clock.now) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.1, abs=MS)
    assert waits[4] == pytest.approx(0.2, abs=MS)


def test_concurrent_senders_never_exceed_the_rate(redis_client: Any, clock: FakeClock) -> None:
    """8 threads book 80 slots at once: every one gets its own, spaced by the rate, none lost."""
    slots: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(8)

    def sender() -> None:
        ready.wait()
        for _ in range(10):
            wait = ratelimit.reserve(key="t:threads", rate=100, burst=1, now=clock.now)
            with lock:
                slots.append(clock.now + wait)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    assert len(slots) == 80
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 0.01 - MS  # 100/s: no two sends closer than 10 ms
    assert slots[-1] - slots[0] == pytest.approx(0.79, abs=MS)  # and no slot left unused


def test_take_refuses_when_the_bucket_is_empty(redis_client: Any, clock: FakeClock) -> None:
    assert ratelimit.take(key="t:pair", rate=1 / 6, burst=2, now=clock.now) == 0.0
    assert ratelimit.take(key="t:pair", rate=1 / 6, burst=2, now=clock.now) == 0.0
    wait = ratelimit.take(key="t:pair", rate=1 / 6, burst=2, now=clock.now)
    assert wait == pytest.approx(6, abs=MS)
    clock.advance(wait)
    assert ratelimit.take(key="t:pair", rate=1 / 6, burst=2, now=clock.now) == 0.0


def test_zero_rate_means_unlimited(redis_client: Any) -> None:
    assert ratelimit.reserve(key="t:off", rate=0, burst=1) == 0.0
    assert ratelimit.take(key="t:off", rate=0, burst=1) == 0.0


def test_without_a_clock_the_wall_clock_is_used(redis_client: Any) -> None:
    """Production passes no `now`: the first calls still go at once, the next is paced."""
    assert ratelimit.reserve(key="t:wall", rate=1, burst=1) == 0.0
    assert 0.5 < ratelimit.reserve(key="t:wall", rate=1, burst=1) <= 1.0


def test_the_window_counts_a_send_until_a_window_after_its_answer(redis_client: Any, clock: FakeClock) -> None:
    def window() -> tuple[float, ratelimit.WindowEntry | None]:
        return ratelimit.window_enter(key="t:win", limit=5, hold=30, window=1.0, now=clock.now)

    entries = [window() for _ in range(5)]
    assert [wait for wait, _ in entries] == [0.0] * 5 and all(entry for _, entry in entries)
    assert window() == (0.02, None)  # all five in flight: poll, any answer frees a place
    clock.advance(0.3)
    for _, entry in entries:
        ratelimit.window_answered(entry, now=clock.now)
    clock.advance(0.3)
    assert window() == (pytest.approx(0.7, abs=MS), None)  # the 6th waits a window after the answers
    clock.advance(0.7)
    assert window()[0] == 0.0


def test_a_send_never_answered_leaves_the_window_after_the_hold(redis_client: Any, clock: FakeClock) -> None:
    def enter() -> float:
        return ratelimit.window_enter(key="t:win", limit=2, hold=0.2, window=0.1, now=clock.now)[0]

    assert [enter(), enter()] == [0.0, 0.0]
    assert enter() == 0.02
    clock.advance(0.25)  # past the hold, the sends are still counted for a window ...
    assert enter() == pytest.approx(0.05, abs=MS)
    clock.advance(0.05)  # ... and then no more: a worker that died mid-send does not keep its place
    assert enter() == 0.0


def test_window_limit_zero_turns_it_off(redis_client: Any) -> None:
    assert ratelimit.window_enter(key="t:win", limit=0, hold=30) == (0.0, None)
    ratelimit.window_answered(None)  # nothing to record
    assert redis_client.exists("wia:rl:t:win") == 0


def test_whatever_the_delays_no_window_of_arrivals_holds_more_than_the_limit(redis_client: Any) -> None:
    """Senders that stall at random between the check and the provider (up to 3x the window's length)
    never put more than `limit` arrivals in any window-long stretch of the provider's.

    A simulation on a virtual clock: 8 senders, each checks the window, waits what it is told,
    reaches the provider after its random delay and records the answer after another; the
    events run in the order of their virtual moments, so the result is the same on any machine.
    """
    limit, length, sends, senders = 4, 0.05, 200, 8
    rng = random.Random(7)
    delays = [(rng.uniform(0, 0.15) if rng.random() < 0.3 else 0.0, rng.uniform(0, 0.01)) for _ in range(sends)]
    plans = [delays[n::senders] for n in range(senders)]
    arrivals: list[float] = []
    # (moment, order, sender, step, entry): step "check" -> "arrive" -> "answered" -> next "check".
    events: list[tuple[float, int, int, str, Any]] = []
    order = 0

    def schedule(at: float, sender: int, step: str, entry: Any = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, sender, step, entry))

    for sender in range(senders):
        schedule(1_000_000.0, sender, "check")
    while events:
        at, _, sender, step, entry = heapq.heappop(events)
        to_provider, back = plans[sender][0]
        if step == "check":
            wait, entry = ratelimit.window_enter(key="t:prop", limit=limit, hold=30, window=length, poll=0.002, now=at)
            schedule(at + wait, sender, "check") if wait else schedule(at + to_provider, sender, "arrive", entry)
        elif step == "arrive":
            arrivals.append(at)
            schedule(at + back, sender, "answered", entry)
        else:
            ratelimit.window_answered(entry, now=at)
            plans[sender].pop(0)
            if plans[sender]:
                schedule(at, sender, "check")
    arrivals.sort()
    assert len(arrivals) == sends
    busiest = max(sum(1 for b in arrivals[i:] if b - a < length) for i, a in enumerate(arrivals))
    assert busiest <= limit
    assert busiest == limit  # the load was enough to fill the window: the check above meant something


def test_take_then_reserve_books_a_slot_only_when_the_bucket_gives_its_token(
    redis_client: Any, clock: FakeClock
) -> None:
    def call() -> ratelimit.TakeReserve:
        return ratelimit.take_then_reserve(
            bucket_key="t:tr:pair",
            bucket_rate=1 / 6,
            bucket_burst=2,
            slot_key="t:tr:num",
            slot_rate=10,
            slot_burst=1,
            now=clock.now,
        )

    assert call() == ratelimit.TakeReserve(0.0, 0.0, 0.0)  # one token is left
    second = call()
    assert second.bucket_wait == 0.0 and second.slot_wait == pytest.approx(0.1, abs=MS)  # the next slot
    assert second.bucket_next == pytest.approx(6, abs=MS)  # the bucket is empty now, and says so
    third = call()
    assert third.bucket_wait == pytest.approx(6, abs=MS) and third.slot_wait == 0.0  # refused: no slot booked ...
    # ... so this reservation gets the third slot.
    assert ratelimit.reserve(key="t:tr:num", rate=10, burst=1, now=clock.now) == pytest.approx(0.2, abs=MS)


def test_take_then_reserve_enters_the_window_in_the_same_round_trip_only_for_a_slot_that_is_now(
    redis_client: Any, clock: FakeClock
) -> None:
    spec = ratelimit.WindowSpec(key="t:tre:win", limit=2, hold=30, window=1.0)

    def call(recipient: str) -> ratelimit.TakeReserve:
        return ratelimit.take_then_reserve(
            bucket_key=f"t:tre:pair:{recipient}",
            bucket_rate=1 / 6,
            bucket_burst=1,
            slot_key="t:tre:num",
            slot_rate=10,
            slot_burst=2,
            now=clock.now,
            enter=spec,
        )

    first = call("a")
    assert first.entry is not None and first.slot_wait == 0.0 and first.window_wait == 0.0
    assert redis_client.zscore("wia:rl:t:tre:win", first.entry.member) == pytest.approx(clock.now + 30)
    second = call("b")  # the second slot of the burst is now too
    assert second.entry is not None
    third = call("c")  # a later slot: the window is checked after the caller's sleep, not here
    assert third.slot_wait == pytest.approx(0.1, abs=MS) and third.entry is None and third.window_wait == 0.0
    assert redis_client.zcard("wia:rl:t:tre:win") == 2
    refused = call("a")  # the customer's bucket is empty: nothing booked, nothing counted
    assert refused.bucket_wait == pytest.approx(6, abs=MS) and refused.entry is None
    clock.advance(1.0)  # slots free again; the two sends are still in flight (held), so the window is full
    full = call("d")
    assert full.slot_wait == 0.0 and full.entry is None and full.window_wait == pytest.approx(0.02, abs=MS)
    ratelimit.window_answered(first.entry, now=clock.now - 5)  # answered long ago: its place is free
    assert call("e").entry is not None


def test_take_then_reserve_with_a_part_turned_off(redis_client: Any, clock: FakeClock) -> None:
    def call(n: str, bucket_rate: float, slot_rate: float) -> ratelimit.TakeReserve:
        return ratelimit.take_then_reserve(
            bucket_key=f"t:tr{n}:pair",
            bucket_rate=bucket_rate,
            bucket_burst=1,
            slot_key=f"t:tr{n}:num",
            slot_rate=slot_rate,
            slot_burst=1,
            now=clock.now,
        )

    assert call("0", 0, 0) == ratelimit.TakeReserve(0.0, 0.0, 0.0)
    for expected in (0.0, 0.1):
        no_bucket = call("1", 0, 10)
        assert no_bucket.bucket_wait == 0.0 and no_bucket.slot_wait == pytest.approx(expected, abs=MS)
    for pair_expected in (0.0, 6.0):
        no_slots = call("2", 1 / 6, 0)
        assert no_slots.slot_wait == 0.0 and no_slots.bucket_wait == pytest.approx(pair_expected, abs=MS)
