"""Run the whole product in the foreground: Redis (embedded), Daphne, the pipeline runner, Celery worker and beat.

Ctrl-C (or SIGTERM) stops every process cleanly; if one of them dies, the
others are stopped too and the command exits non-zero.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from whatsapp_ia import embedded_redis
from whatsapp_ia.env import VAR_DIR

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Command(BaseCommand):
    help = "Run web (Daphne), the pipeline runner, Celery worker and beat together; Ctrl-C stops all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--demo", action="store_true", help="Load the demo flow, chats and AI catalog.")
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "2")))
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        media_cpus = media_worker_cpus(settings.MEDIA_WORKER_CPUS)  # a bad list stops here, before anything starts
        children: list[tuple[str, subprocess.Popen]] = []
        log_dir = VAR_DIR / "log"
        log_dir.mkdir(parents=True, exist_ok=True)

        if settings.REDIS.socket_path:
            proc = embedded_redis.start(settings.REDIS.socket_path, log_path=log_dir / "redis.log")
            if proc:
                children.append(("redis", proc))
            self.stdout.write(f"· Redis (embedded) on {settings.REDIS.socket_path}")
        else:
            self.stdout.write(f"· Redis at {settings.REDIS_URL}")
        db = settings.DATABASES["default"]
        self.stdout.write(f"· Database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')}")

        try:
            if not options["no_migrate"]:
                call_command("migrate", interactive=False, verbosity=0)
                self.stdout.write("· Database migrated")
            call_command("ensure_admin")
            if options["demo"]:
                call_command("load_demo")
            call_command("collectstatic", interactive=False, verbosity=0)
            python = sys.executable
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            commands = {
                "web": [python, "-m", "whatsapp_ia.server", "-b", options["host"], "-p", str(options["port"]),
                        "whatsapp_ia.asgi:application"],
                "pipeline": [python, str(Path(__file__).resolve().parents[3] / "manage.py"), "pipeline"],
                "worker": [python, "-m", "celery", "-A", "whatsapp_ia", "worker", "--loglevel=INFO",
                           f"--concurrency={options['concurrency']}", "--without-mingle", "--without-gossip"],
                # Voice notes and images: one process of their own (its recognition at idle CPU priority), on
                # MEDIA_WORKER_CPUS when set (see _media_worker_placement).
                "media-worker": [python, "-m", "celery", "-A", "whatsapp_ia", "worker", "--loglevel=INFO",
                                 "-Q", f"{settings.TRANSCRIPTION_QUEUE},{settings.VISION_QUEUE}", "-n", "media@%h",
                                 "--concurrency=1", "--without-mingle", "--without-gossip"],
                "scheduler": [python, "-m", "celery", "-A", "whatsapp_ia", "beat", "--loglevel=INFO",
                              f"--schedule={VAR_DIR / 'celerybeat-schedule'}"],
            }  # fmt: skip
            for name, cmd in commands.items():
                place = partial(_media_worker_placement, media_cpus) if name == "media-worker" else None
                children.append((name, subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=place)))
            self._wait_ready(options["host"], options["port"], children)
            self.stdout.write(
                self.style.SUCCESS(
                    f"WhatsApp IA is up at http://{_display_host(options['host'])}:{options['port']}/ "
                    f"(admin: /admin/) in {time.monotonic() - started:.1f} s. Ctrl-C stops everything."
                )
            )
            self._supervise(children)
        finally:
            self._stop(children)

    def _wait_ready(self, host: str, port: int, children: list[tuple[str, subprocess.Popen]]) -> None:
        import urllib.request

        url = f"http://{_display_host(host)}:{port}/healthz"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for name, proc in children:
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited early with code {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"The web server did not answer on {url} within 60 s")

    def _supervise(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        stop = {"requested": False}

        def on_signal(signum: int, _frame: object) -> None:
            stop["requested"] = True

        for sig in STOP_SIGNALS:
            signal.signal(sig, on_signal)
        while not stop["requested"]:
            for name, proc in children:
                if proc.poll() is not None:
                    self.stderr.write(f"{name} stopped unexpectedly (exit {proc.returncode}); stopping the rest.")
                    raise SystemExit(1)
            time.sleep(0.3)
        self.stdout.write("Stopping…")

    def _stop(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        # The application processes first (web, worker, scheduler), Redis only once they are gone.
        apps = [(n, p) for n, p in children if n != "redis"]
        redis_procs = [(n, p) for n, p in children if n == "redis"]
        for group in (apps, redis_procs):
            for _name, proc in group:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for name, proc in group:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"{name} did not stop in time; killing it.")
                    proc.kill()
                    proc.wait()
        if redis_procs and settings.REDIS.socket_path:
            Path(settings.REDIS.socket_path).unlink(missing_ok=True)
        if children:
            self.stdout.write("Stopped.")


def media_worker_cpus(text: str) -> frozenset[int]:
    """The CPUs of a Linux CPU list ("1", "2-3", "0,2-3"; empty: none chosen), each one this machine has.

    Raises SystemExit naming MEDIA_WORKER_CPUS when the list is malformed or names a CPU that is not there.
    """
    cpus: set[int] = set()
    count = os.cpu_count() or 1
    for part in filter(None, (p.strip() for p in text.split(","))):
        found = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        first, last = (int(found[1]), int(found[2] or found[1])) if found else (0, -1)
        if last < first:
            raise SystemExit(f"MEDIA_WORKER_CPUS={text!r}: write CPUs as a list like 1, 2-3 or 0,2")
        cpus.update(range(first, last + 1))
    missing = sorted(c for c in cpus if c >= count)
    if missing:
        raise SystemExit(f"MEDIA_WORKER_CPUS={text!r}: this machine has CPUs 0-{count - 1}, not {missing}")
    return frozenset(cpus)


def _media_worker_placement(cpus: frozenset[int]) -> None:
    """Run in the media worker before exec: its own CPUs when configured.

    The recognition itself (ffmpeg, Vosk, Tesseract) runs on a thread at idle priority
    (``whatsapp_ia.idle_priority``), so the web server, the pipeline and the default worker take the CPU
    back at once; the worker's database writes stay at normal priority, so the pipeline never waits for a
    write lock held by a process the scheduler keeps off the CPU. On the same core the recognition still
    slows the pipeline (caches, the scheduler's wake-ups: bench/voice_burst.sh), hence MEDIA_WORKER_CPUS
    where there are cores to spare.
    """
    if cpus:
        os.sched_setaffinity(0, cpus)


def _display_host(host: str) -> str:
    return "localhost" if host in ("0.0.0.0", "127.0.0.1", "") else host  # noqa: S104
