"""Import flow rules from an Excel workbook: ``manage.py import_rules FILE.xlsx [--dry-run]``.

All or nothing: with any error nothing is written, each error is printed as
``row N, column X: reason`` (on stderr) and the command exits with status 1.
``--dry-run`` checks the whole file and prints what would change without writing.
A progress bar (rows) runs on stderr. The file must pass the same limits as the
admin's (flows.excel.workbook_check: RULES_IMPORT_MAX_*), checked before parsing.
Rows are matched to rules by key (derived from step and keywords when the file
has none), so importing the same file again updates instead of duplicating.
See flows/excel.py for the columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from flows.excel import rules_import


class Command(BaseCommand):
    help = "Import flow rules from an .xlsx file (all or nothing); --dry-run shows what would change."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The .xlsx file (first sheet, column names in the first row).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report what would change; write nothing."
        )

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("File not found: %(path)s") % {"path": path})
        from tqdm import tqdm

        stream = getattr(self.stderr, "_out", self.stderr)
        with tqdm(total=0, unit=_("row"), file=stream, dynamic_ncols=True, desc=_("Rules")) as bar:

            def progress(done: int, total: int) -> None:
                if bar.total != total:
                    bar.total = total
                bar.n = done
                bar.refresh()

            report = rules_import(file=path, dry_run=dry_run, progress=progress)

        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(_("warning: %(warning)s") % {"warning": warning}))
        for error in report.errors:
            self.stderr.write(str(error))

        counts = _("%(created)d created, %(updated)d updated, %(unchanged)d unchanged.") % {
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
        }
        if report.errors:
            raise CommandError(
                ngettext(
                    "%(count)d error; nothing was imported.",
                    "%(count)d errors; nothing was imported.",
                    len(report.errors),
                )
                % {"count": len(report.errors)}
            )
        if dry_run:
            self.stdout.write(_("Dry run: %(counts)s Nothing was saved.") % {"counts": counts})
        else:
            self.stdout.write(self.style.SUCCESS(counts))
