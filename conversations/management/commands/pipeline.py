"""Run the message pipeline runner in the foreground (``manage.py serve`` starts one; compose runs it as a service)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from conversations.services.runner import PipelineRunner


class Command(BaseCommand):
    help = (
        "Turn stored webhook deliveries into stored messages, bot answers and sent replies as they arrive. "
        "Run one (a second one is a standby); without it, Celery drain tasks do the same work, slower."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        self.stdout.write("Pipeline runner started")
        PipelineRunner(stop=stop).run()
        self.stdout.write("Pipeline runner stopped")
