"""Export every flow rule to an Excel workbook: ``manage.py export_rules FILE.xlsx``.

The file has the English column names (see flows/excel.py), one rule per row by
step, priority and id, and imports back unchanged with ``import_rules``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from flows.excel import rules_export
from flows.models import Rule


class Command(BaseCommand):
    help = "Export every flow rule to an .xlsx file (importable with import_rules)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The .xlsx file to write (overwritten if it exists).")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        path = Path(file)
        count = Rule.objects.count()
        data = rules_export()
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise CommandError(_("Cannot write %(path)s: %(reason)s") % {"path": path, "reason": exc.strerror}) from exc
        self.stdout.write(
            self.style.SUCCESS(
                ngettext("Exported %(count)d rule to %(path)s.", "Exported %(count)d rules to %(path)s.", count)
                % {"count": count, "path": path}
            )
        )
