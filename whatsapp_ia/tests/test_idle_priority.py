"""The idle-priority thread: recognition yields the CPU, the caller (and its database writes) does not."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from whatsapp_ia.idle_priority import run_at_idle_priority

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")


def test_the_work_runs_on_another_thread_at_idle_priority_and_the_caller_keeps_its_own() -> None:
    before = os.sched_getscheduler(0)

    def work() -> tuple[int, int]:
        return threading.get_native_id(), os.sched_getscheduler(0)

    thread_id, policy = run_at_idle_priority(work)
    assert policy == os.SCHED_IDLE
    assert thread_id != threading.get_native_id()
    assert os.sched_getscheduler(0) == before == os.SCHED_OTHER


def test_a_program_the_work_starts_inherits_idle_priority() -> None:
    probe = [sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"]
    out = run_at_idle_priority(lambda: subprocess.run(probe, capture_output=True, text=True, check=True).stdout)
    assert int(out) == os.SCHED_IDLE
    assert int(subprocess.run(probe, capture_output=True, text=True, check=True).stdout) == os.SCHED_OTHER


def test_the_works_exception_reaches_the_caller_and_the_thread_goes_on() -> None:
    def fail() -> None:
        raise ValueError("unreadable")

    with pytest.raises(ValueError, match="unreadable"):
        run_at_idle_priority(fail)
    assert run_at_idle_priority(lambda: 42) == 42
