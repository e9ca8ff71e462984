"""What a transcription or image-description backend returns or raises (the contract of
``conversations.services.transcription`` and ``conversations.services.vision``).

A backend returns an :class:`EnrichmentResult` or raises one of the errors below, each with a
reason code of :data:`REASONS` (stored on the message as ``enrichment_reason``, shown to agents
in their language) and a free-text ``detail`` for logs and the admin (kept in
``data["enrichment"]["detail"]``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

#: Reason codes, and what agents read for each.
REASONS = {
    "no_model": _("transcription unavailable: no model"),
    "no_backend": _("unavailable: no backend configured"),
    "disabled": _("turned off in the settings"),
    "too_long": _("too long to transcribe"),
    "too_large": _("file too large"),
    "overloaded": _("skipped: the service was overloaded"),
    "empty": _("empty file"),
    "corrupt": _("the file could not be read"),
    "unsupported": _("unsupported format"),
    "no_media": _("the file was not downloaded"),
    "timeout": _("took too long"),
    "provider_error": _("the provider failed"),
    "no_speech": _("no speech recognised"),
    "no_text": _("no text found in the image"),
    "error": _("an unexpected error"),
}


@dataclass(frozen=True)
class EnrichmentResult:
    text: str
    backend: str  # "vosk", "openai", "tesseract", "openai-vision"
    source: str  # "transcription", "vision" (a model described it) or "ocr" (the text Tesseract read)
    elapsed_ms: int
    duration_ms: int | None = None  # an audio's length


@dataclass(frozen=True)
class Availability:
    """Can this backend work now? Shown in the admin and the console."""

    available: bool
    backend: str
    reason: str = ""  # a REASONS code when not available
    detail: str = ""


class EnrichmentError(Exception):
    """Base: ``reason`` is a REASONS code, ``detail`` free text."""

    state = "failed"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class EnrichmentFailed(EnrichmentError):
    """The file can't be transcribed or described (corrupt, empty, unsupported, refused): final."""

    state = "failed"


class EnrichmentSkipped(EnrichmentError):
    """Not attempted on purpose (too long, load shedding, turned off): final for this message."""

    state = "skipped"


class EnrichmentUnavailable(EnrichmentError):
    """No model or backend to do it (a clear state, never a crash): final for this message."""

    state = "unavailable"


class EnrichmentTransient(EnrichmentError):
    """Worth trying again later (a provider's 5xx or 429, a timeout, a connection reset)."""

    state = "queued"
