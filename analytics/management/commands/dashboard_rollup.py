"""Count the messages into the dashboard's summary tables now, with progress (the periodic task does it in
the background; this is for an upgrade with many messages, or to build them again)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.services.rollup import rollup_all


class Command(BaseCommand):
    help = (
        "Count every message not counted yet into the dashboard's summary tables, showing progress; with"
        " --rebuild, forget them and count every message again (after messages were deleted by hand)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="Forget the summaries and count everything.")

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(high_id: int, newest: int) -> None:
            share = 100 * high_id / newest if newest else 100
            self.stdout.write(f"  messages counted up to id {high_id:,} of {newest:,} ({share:.0f} %)")

        report = rollup_all(rebuild=options["rebuild"], progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Summaries count every message up to id {report.high_id:,}"
                f" ({report.messages:,} ids read, {report.first_responses:,} first responses recorded)."
            )
        )
