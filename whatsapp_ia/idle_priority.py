"""Run CPU-heavy work (speech recognition, OCR) on a thread at idle CPU priority, the rest of the process not.

Linux schedules threads, not processes: ``sched_setscheduler(0, ...)`` and ``setpriority(PRIO_PROCESS, tid,
...)`` change the calling thread only, and a program the thread starts (ffmpeg, tesseract) inherits its
priority. So the media worker runs at normal priority and hands the recognition to one long-lived thread
at SCHED_IDLE (else nice 19): the web server, the pipeline and the default worker take the CPU from it at
once, while the worker's database writes (the transcription stored, the chat's preview) run at normal
priority. Those writes hold the database's write lock (SQLite: one writer for the whole file); a process
at idle priority preempted while holding it would make the pipeline wait behind the load it was meant to
yield to (a priority inversion: bench/voice_burst.sh). An unprivileged thread cannot raise its priority
again, which is why the work moves to a thread of its own instead of lowering the caller's.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

logger = logging.getLogger(__name__)

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_executor_pid: int | None = None  # a forked child (a prefork worker) needs a thread of its own
_executor_lock = threading.Lock()
_here = threading.local()  # ``on_idle_thread`` is set on the idle-priority thread itself


def thread_lower_priority() -> str:
    """Put the calling thread at idle priority: SCHED_IDLE, else nice 19 (Linux, where both are per thread).

    Returns which one it got ("idle", "nice", or "" elsewhere or when neither could be set).
    """
    if not sys.platform.startswith("linux"):
        return ""  # elsewhere a thread's id is no process id: setpriority could not name the thread
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    except (AttributeError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        return "nice"
    except OSError as exc:
        logger.warning("Could not lower the priority of the recognition thread: %s", exc)
        return ""


def _idle_thread_start() -> None:
    _here.on_idle_thread = True
    thread_lower_priority()


def _idle_executor() -> ThreadPoolExecutor:
    global _executor, _executor_pid
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="idle-priority", initializer=_idle_thread_start
            )
            _executor_pid = os.getpid()
        return _executor


def run_at_idle_priority(work: Callable[[], T]) -> T:
    """``work()`` on the process's idle-priority thread; its result, or its exception raised here.

    The thread's database connections are closed after each call (they would otherwise outlive the
    caller's request cycle, which closes only its own thread's connections). Called from the idle thread
    itself (work that already runs there reads an image with ``tesseract_read``), ``work`` runs at once:
    the one thread waiting for itself would never return.
    """
    if getattr(_here, "on_idle_thread", False):
        return work()

    def call() -> T:
        try:
            return work()
        finally:
            connections.close_all()

    return _idle_executor().submit(call).result()
