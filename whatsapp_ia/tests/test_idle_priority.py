"""The idle-priority thread: recognition yields the CPU, the caller (and its database writes) does not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

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


def test_work_already_on_the_idle_thread_runs_there_at_once() -> None:
    """tesseract_read (at idle priority itself) inside work an OCR caller already sent to the idle thread."""
    caller = ThreadPoolExecutor(max_workers=1)  # so that a thread waiting for itself fails the test, not hangs it
    try:
        outer, inner = caller.submit(
            run_at_idle_priority,
            lambda: (threading.get_native_id(), run_at_idle_priority(lambda: threading.get_native_id())),
        ).result(timeout=60)
    finally:
        caller.shutdown(wait=False)
    assert outer == inner != threading.get_native_id()  # one thread, and no wait for itself


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


def test_a_forked_child_gets_an_idle_thread_of_its_own() -> None:
    """A prefork worker forks after the parent may have used it: the child must not wait on a dead thread."""
    run_at_idle_priority(lambda: None)  # the parent's thread exists
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its own idle thread answered
        try:
            os._exit(0 if run_at_idle_priority(lambda: os.sched_getscheduler(0)) == os.SCHED_IDLE else 1)
        except BaseException:
            os._exit(2)
    for _ in range(600):  # a child stuck on the parent's dead thread never exits: give up after 60 s
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child waited forever for the parent's idle thread")
    assert os.waitstatus_to_exitcode(status) == 0
