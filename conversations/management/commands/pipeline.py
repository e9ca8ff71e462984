"""Run the message pipeline runner in the foreground (``manage.py serve`` starts one; compose runs it as a service)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.services.runner import PipelineRunner, runner_alive
from whatsapp_ia.heap import freeze_startup_heap


class Command(BaseCommand):
    help = (
        "Turn stored webhook deliveries into stored messages, bot answers and sent replies as they arrive. "
        "Run one (a second one is a standby); without it, Celery drain tasks do the same work, slower."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Exit 0 when a runner is alive (health checks).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            if not runner_alive():
                raise CommandError("No pipeline runner has announced itself in the last few seconds.")
            self.stdout.write("A pipeline runner is alive.")
            return
        stop = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        # What a turn uses is loaded now (the rest of the first turn's imports add under 1 % to it), and frozen:
        # a full collection over all of it would hold up every reply of the moment (whatsapp_ia/heap.py).
        from conversations.services import ingest  # noqa: F401

        freeze_startup_heap()
        self.stdout.write("Pipeline runner started")
        PipelineRunner(stop=stop).run()
        self.stdout.write("Pipeline runner stopped")
