from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.services import passwords_rehash


class Command(BaseCommand):
    help = (
        "Migrate the seed's legacy password hashes: make them readable by Django (they are upgraded on the "
        "next login) and report how many remain; --force-reset makes the remaining ones unusable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force-reset", action="store_true", help="Make remaining legacy passwords unusable (users must reset)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = passwords_rehash(force_reset=options["force_reset"])
        self.stdout.write(f"Legacy SHA-256 hashes prepared for upgrade on next login: {report.normalized}")
        self.stdout.write(f"Werkzeug PBKDF2 hashes converted to Django PBKDF2: {report.converted_pbkdf2}")
        if report.reset:
            self.stdout.write(self.style.WARNING(f"Passwords reset (users must set a new one): {report.reset}"))
        style = self.style.WARNING if report.legacy_remaining else self.style.SUCCESS
        self.stdout.write(style(f"Legacy hashes remaining: {report.legacy_remaining}"))
        for name in report.usernames_remaining:
            self.stdout.write(f"  - {name}")
