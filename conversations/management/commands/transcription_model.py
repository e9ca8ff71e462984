"""Show whether voice notes can be transcribed, and download the Vosk model ahead of time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.services.enrichment_types import EnrichmentUnavailable
from conversations.services.transcription import (
    download_vosk_model,
    is_vosk_model_dir,
    transcription_availability,
    vosk_model_path,
)


class Command(BaseCommand):
    help = (
        "Print the transcription backend, the Vosk model's path and its state; with --download, "
        "download and unpack the model from VOSK_MODEL_URL (checked against VOSK_MODEL_SHA256) now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--download",
            action="store_true",
            help="Download the Vosk model to VOSK_MODEL_PATH now (even with VOSK_MODEL_DOWNLOAD off).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["download"]:
            self._download()
        self._report()

    def _report(self) -> None:
        availability = transcription_availability()
        self.stdout.write(f"Backend: {availability.backend}")
        if availability.backend == "vosk":
            path = vosk_model_path()
            self.stdout.write(f"Model path: {path}")
            if is_vosk_model_dir(path):
                state = "installed"
            elif settings.VOSK_MODEL_DOWNLOAD:
                state = f"not installed yet; downloads on first use from {settings.VOSK_MODEL_URL}"
            else:
                state = "missing (set VOSK_MODEL_PATH, run this command with --download, or set VOSK_MODEL_DOWNLOAD)"
            self.stdout.write(f"Model: {state}")
        if availability.available:
            self.stdout.write(self.style.SUCCESS(f"State: ready ({availability.detail})"))
        else:
            self.stdout.write(self.style.WARNING(f"State: unavailable, {availability.reason}: {availability.detail}"))

    def _download(self) -> None:
        path = vosk_model_path()
        if is_vosk_model_dir(path):
            self.stdout.write(f"A Vosk model is already at {path}: nothing to download.")
            return
        url = settings.VOSK_MODEL_URL
        sha256 = settings.VOSK_MODEL_SHA256
        self.stdout.write(f"Downloading {url}\n  to {path}")
        if not sha256:
            self.stdout.write(self.style.WARNING("  VOSK_MODEL_SHA256 is not set: the download is not verified."))
        last = [-1]

        def progress(done: int, total: int | None) -> None:
            if total:
                percent = done * 100 // total
                if percent != last[0]:
                    last[0] = percent
                    bar = "#" * (percent // 5)
                    self.stdout.write(f"  [{bar:<20}] {percent:3d}%  {done / 1e6:.1f} of {total / 1e6:.1f} MB")
            else:
                self.stdout.write(f"  {done / 1e6:.1f} MB")

        try:
            download_vosk_model(url, path, sha256=sha256, progress=progress)
        except EnrichmentUnavailable as exc:
            raise CommandError(f"The model could not be installed: {exc.detail}") from None
        self.stdout.write(self.style.SUCCESS(f"Vosk model installed at {path}"))
