"""The suite's own helpers in the root conftest: polling with a clear failure, and the fake clock."""

from __future__ import annotations

import pytest

from conftest import FakeClock, wait_for, wait_for_async


def test_wait_for_returns_the_first_truthy_value() -> None:
    values = iter([0, None, "", 3, 4])
    assert wait_for(lambda: next(values), interval=0) == 3


def test_wait_for_fails_naming_what_it_waited_for() -> None:
    def the_reply_arrived() -> bool:
        return False

    with pytest.raises(pytest.fail.Exception, match=r"gave up after waiting 0 s for the_reply_arrived: sent \[\]"):
        wait_for(the_reply_arrived, timeout=0, interval=0, message=lambda: "sent []")


async def test_wait_for_async_polls_without_blocking_the_loop() -> None:
    values = iter([False, False, True])
    assert await wait_for_async(lambda: next(values), interval=0) is True
    with pytest.raises(pytest.fail.Exception, match="gave up after waiting 0 s for <lambda>: nothing"):
        await wait_for_async(lambda: False, timeout=0, message="nothing")


def test_the_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start=100.0)
    assert clock.now == clock() == 100.0
    assert clock.advance(0.25) == 100.25 == clock.now
