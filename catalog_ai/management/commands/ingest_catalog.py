"""`python manage.py ingest_catalog FILE.pdf [--name NAME] [--wait]`: load a PDF catalog for the AI.

Without --wait the ingestion is queued for the Celery worker; with --wait it runs here with a progress bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from catalog_ai.ingestion import CatalogRejected, catalog_create_from_upload, catalog_ingest, stage_label
from catalog_ai.models import Catalog, CatalogStatus


class Command(BaseCommand):
    help = "Load a PDF catalog for the AI: queue its ingestion, or run it here with --wait (progress bar)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the catalog PDF")
        parser.add_argument("--name", default="", help="catalog name (default: the file name)")
        parser.add_argument(
            "--wait", action="store_true", help="process it now, in this process, showing progress, then the summary"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"]).expanduser()
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            with path.open("rb") as fh:
                catalog, created = catalog_create_from_upload(name=options["name"], file=fh, filename=path.name)
        except CatalogRejected as exc:
            raise CommandError(f"{path.name}: {exc.reason}") from exc
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from exc

        if not created:
            self.stdout.write(
                f"Catalog #{catalog.pk} “{catalog.name}” already has this file (same SHA-256); nothing changed. "
                f"Status: {catalog.get_status_display()}."
            )
            return
        self.stdout.write(f"Catalog #{catalog.pk} “{catalog.name}” stored ({catalog.file.name}).")

        if not options["wait"]:
            from catalog_ai.tasks import catalog_ingest_enqueue

            catalog_ingest_enqueue(catalog)
            self.stdout.write(
                "Ingestion queued for the Celery worker. Follow its progress in the admin "
                f"({self._admin_url(catalog)}), or run this command with --wait to process it here."
            )
            return
        summary = self._ingest_with_progress(catalog)
        catalog.refresh_from_db()
        if catalog.status != CatalogStatus.READY:
            raise CommandError(f"Catalog #{catalog.pk} failed: {catalog.error or summary}")
        self._print_summary(catalog, summary)

    def _ingest_with_progress(self, catalog: Catalog) -> dict[str, Any]:
        from tqdm import tqdm

        stream = getattr(self.stderr, "_out", self.stderr)
        with tqdm(total=0, unit="page", file=stream, dynamic_ncols=True, desc=stage_label("text")) as bar:

            def progress(done: int, total: int, stage: str) -> None:
                if bar.total != total:
                    bar.total = total
                bar.n = done
                bar.set_description(stage_label(stage), refresh=False)
                bar.refresh()

            return catalog_ingest(catalog_id=catalog.pk, progress=progress)

    def _print_summary(self, catalog: Catalog, summary: dict[str, Any]) -> None:
        backends = ", ".join(f"{name} {count}" for name, count in (summary.get("backends") or {}).items())
        lines = [
            f"Catalog #{catalog.pk} “{catalog.name}” is ready.",
            f"  Pages: {summary.get('pages', 0)} (OCR: {summary.get('ocr_pages', 0)}, "
            f"without text: {summary.get('no_text_pages', 0)})",
            f"  Chunks: {summary.get('chunks', 0)}",
            f"  SKUs: {summary.get('skus', 0)}"
            + (f" (e.g. {', '.join(summary['sku_examples'][:5])})" if summary.get("sku_examples") else ""),
            f"  Text: {backends or '—'}",
            f"  OCR engines: {', '.join(summary.get('ocr_engines') or []) or 'none'}",
            f"  Index: {summary.get('index', '—')}"
            + (f" ({summary['index_seconds']} s)" if "index_seconds" in summary else ""),
            f"  Time: {summary.get('seconds', 0)} s",
        ]
        lines += [f"  Note: {note}" for note in summary.get("notes") or []]
        self.stdout.write(self.style.SUCCESS(lines[0]))
        self.stdout.write("\n".join(lines[1:]))

    @staticmethod
    def _admin_url(catalog: Catalog) -> str:
        try:
            return reverse("admin:catalog_ai_catalog_change", args=[catalog.pk])
        except NoReverseMatch:
            return "Admin → AI catalog → Catalogs"
