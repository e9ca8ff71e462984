from typing import Any

from django.core.management.base import BaseCommand

from whatsapp_ia.demo import demo_load


class Command(BaseCommand):
    help = (
        "Load the demo flow (a countertop store), roles, a few conversations and a sample catalog for the AI "
        "(ingested offline, AI switched on). Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = demo_load()
        self.stdout.write(self.style.SUCCESS("Demo data ready: " + ", ".join(f"{v} {k}" for k, v in counts.items())))
