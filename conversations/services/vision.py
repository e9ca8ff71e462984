"""Customer images described in words: a vision model online, Tesseract OCR offline.

* :func:`vision_availability` (cheap, no network): which backend would describe an image now.
* :func:`image_describe`: the image at ``path`` as text, an :class:`EnrichmentResult`, or one of the
  errors of :mod:`conversations.services.enrichment_types` with a reason code (never another exception
  for a bad file).

Backends: with ``OPENAI_API_KEY`` set, a chat completion of ``AI_VISION_MODEL`` at ``OPENAI_BASE_URL``
(the ``prompt`` as its system message, the image as a JPEG data URL) describes it (backend
"openai-vision", source "vision"); otherwise Tesseract reads the text in it with the languages of
``AI_OCR_LANG`` that are installed (backend "tesseract", source "ocr").

Every image is first checked and normalised here, whatever the backend: the file must exist and not be
empty, be a format on :data:`ALLOWED_FORMATS` (judged by its header, not by the announced mime type),
decode completely (a truncated or corrupt file is refused), stay under Pillow's decompression-bomb
limit (``Image.MAX_IMAGE_PIXELS``); it is turned upright (EXIF orientation), its first frame taken
(animated stickers), flattened on white (transparency) and scaled down to ``IMAGE_DESCRIPTION_MAX_PIXELS``.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from conversations.services.enrichment_types import (
    Availability,
    EnrichmentFailed,
    EnrichmentResult,
    EnrichmentTransient,
    EnrichmentUnavailable,
)
from whatsapp_ia.idle_priority import run_at_idle_priority
from whatsapp_ia.tesseract import tesseract_languages, tesseract_read

logger = logging.getLogger(__name__)

OPENAI_VISION = "openai-vision"
TESSERACT = "tesseract"

#: Formats decoded (Pillow's names, from the file's header). Others, even ones Pillow could open
#: (EPS runs Ghostscript, PSD, ICO...), are "unsupported": WhatsApp sends JPEG, PNG, WebP and GIF.
ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "AVIF"})
# Their mime types: a file whose magic bytes claim one of them but Pillow can't identify is corrupt.
_DECODED_MIMES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/avif"})
#: The longest description or OCR text kept (characters).
MAX_TEXT_CHARS = 2000
#: The vision model's answer limit (tokens).
VISION_MAX_TOKENS = 300
#: Small images are enlarged to this width before OCR (Tesseract reads ~20-30 px tall letters best),
#: by at most OCR_MAX_UPSCALE times.
OCR_MIN_WIDTH = 1000
OCR_MAX_UPSCALE = 8.0
#: Tesseract refuses images with a side longer than 32767 pixels.
TESSERACT_MAX_SIDE = 32000
JPEG_QUALITY = 85
_DETAIL_CHARS = 300


# --------------------------------------------------------------------------- availability


def _ocr_languages() -> tuple[str, str]:
    """(the AI_OCR_LANG languages Tesseract has, "" if usable; else "" and why). Probed once per process."""
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return "", "pytesseract is not installed"
    return tesseract_languages(settings.AI_OCR_LANG or "spa+eng")


def vision_availability() -> Availability:
    """Which backend would describe an image now (no network; Tesseract is probed once and cached)."""
    if settings.OPENAI_API_KEY:
        return Availability(True, OPENAI_VISION, detail=settings.AI_VISION_MODEL)
    langs, reason = _ocr_languages()
    if langs:
        return Availability(True, TESSERACT, detail=langs)
    return Availability(False, "", "no_backend", f"no OPENAI_API_KEY and {reason}")


# --------------------------------------------------------------------------- the image, checked


def _unidentified(path: Path, mime: str) -> EnrichmentFailed:
    """A file Pillow can't identify: a known non-image or unsupported image format, else corrupt."""
    import filetype

    try:
        kind = filetype.guess(str(path))
    except OSError:
        kind = None
    if kind is not None and kind.mime not in _DECODED_MIMES:
        return EnrichmentFailed("unsupported", f"{kind.mime} (announced {mime or '?'})")
    return EnrichmentFailed("corrupt", f"not an image (announced {mime or '?'})")


def _check_size(image: Image.Image) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise EnrichmentFailed("corrupt", f"{width}x{height} pixels")
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise EnrichmentFailed("too_large", f"{width}x{height} pixels (limit {limit})")


def _fits(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """``size`` scaled down (aspect kept) to at most ``max_pixels`` pixels."""
    width, height = size
    if max_pixels <= 0 or width * height <= max_pixels:
        return width, height
    scale = (max_pixels / (width * height)) ** 0.5
    return max(1, int(width * scale)), max(1, int(height * scale))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, transparent parts on white (a transparent PNG's text would otherwise land on black)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def load_image(path: Path, *, mime: str = "", max_pixels: int | None = None) -> Image.Image:
    """The image at ``path`` decoded, upright, first frame, RGB, at most ``max_pixels`` pixels
    (IMAGE_DESCRIPTION_MAX_PIXELS by default), or :class:`EnrichmentFailed` with the reason."""
    if max_pixels is None:
        max_pixels = int(settings.IMAGE_DESCRIPTION_MAX_PIXELS)
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise EnrichmentFailed("no_media", f"{exc.__class__.__name__}: {path.name}") from exc
    if size == 0:
        raise EnrichmentFailed("empty")
    # First pass: the header and, for the formats that have them, the checksums.
    try:
        with Image.open(path) as probe:
            if probe.format not in ALLOWED_FORMATS:
                raise EnrichmentFailed("unsupported", f"{probe.format} (announced {mime or '?'})")
            _check_size(probe)
            probe.verify()
    except EnrichmentFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
        raise EnrichmentFailed("too_large", str(exc)[:_DETAIL_CHARS]) from exc
    except UnidentifiedImageError as exc:
        raise _unidentified(path, mime) from exc
    except Exception as exc:  # hostile input: OSError, SyntaxError, struct.error... all mean "can't read it"
        raise EnrichmentFailed("corrupt", f"{exc.__class__.__name__}: {exc}"[:_DETAIL_CHARS]) from exc
    # Second pass: decode the first frame completely (verify() leaves the image unusable).
    try:
        with Image.open(path) as image:
            _check_size(image)
            if image.format in ("JPEG", "MPO") and max_pixels > 0:
                image.draft("RGB", _fits(image.size, max_pixels))  # decode at 1/2, 1/4 or 1/8 when enough
            image.seek(0)
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            frame = _flatten(upright)
            if frame is image:
                frame = image.copy()
    except EnrichmentFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
        raise EnrichmentFailed("too_large", str(exc)[:_DETAIL_CHARS]) from exc
    except Exception as exc:
        raise EnrichmentFailed("corrupt", f"{exc.__class__.__name__}: {exc}"[:_DETAIL_CHARS]) from exc
    if max_pixels > 0 and frame.width * frame.height > max_pixels:
        frame.thumbnail(_fits(frame.size, max_pixels), Image.Resampling.LANCZOS)
    return frame


# --------------------------------------------------------------------------- text clean-up (pure)

_SPACES = re.compile(r"[^\S\n]+")
_WORDISH = re.compile(r"\w", re.UNICODE)


def cap_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with an ellipsis when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def clean_ocr_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Tesseract's output tidied: whitespace runs collapsed, lines without a letter or digit dropped
    (rules, borders, specks read as punctuation), at most ``limit`` characters."""
    lines = []
    for raw in (text or "").replace("\r", "\n").replace("\f", "\n").split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if line and _WORDISH.search(line.replace("_", "")):
            lines.append(line)
    return cap_text("\n".join(lines), limit)


# --------------------------------------------------------------------------- online: the vision model


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _client() -> Any:
    from openai import OpenAI

    return OpenAI(
        api_key=settings.OPENAI_API_KEY,
        base_url=getattr(settings, "OPENAI_BASE_URL", "") or None,
        timeout=float(getattr(settings, "OPENAI_TIMEOUT", 30) or 30),
        max_retries=0,  # the enrichment task retries (ENRICHMENT_MAX_ATTEMPTS), with its own backoff
    )


def _status_error(exc: Any) -> Exception:
    status = int(getattr(exc, "status_code", 0) or 0)
    detail = f"{status} {getattr(exc, 'message', '') or exc}"[:_DETAIL_CHARS]
    if status == 408:
        return EnrichmentTransient("timeout", detail)
    if status == 429 or status >= 500:
        return EnrichmentTransient("provider_error", detail)
    return EnrichmentFailed("provider_error", detail)


def _describe_online(image: Image.Image, prompt: str) -> str:
    import openai

    try:
        completion = _client().chat.completions.create(
            model=settings.AI_VISION_MODEL,
            messages=[
                {"role": "system", "content": prompt},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": _data_url(image)}}]},
            ],
            max_tokens=VISION_MAX_TOKENS,
        )
    except openai.APITimeoutError as exc:
        raise EnrichmentTransient("timeout", str(exc)[:_DETAIL_CHARS]) from exc
    except openai.APIConnectionError as exc:
        raise EnrichmentTransient("provider_error", f"connection: {exc}"[:_DETAIL_CHARS]) from exc
    except openai.APIStatusError as exc:
        raise _status_error(exc) from exc
    except openai.OpenAIError as exc:  # an answer of an unexpected shape
        raise EnrichmentTransient("provider_error", str(exc)[:_DETAIL_CHARS]) from exc
    choice = completion.choices[0] if completion.choices else None
    message = choice.message if choice is not None else None
    refusal = getattr(message, "refusal", None) if message is not None else None
    if refusal:
        raise EnrichmentFailed("provider_error", f"refused: {refusal}"[:_DETAIL_CHARS])
    text = cap_text((message.content if message is not None else "") or "")
    if not text:
        raise EnrichmentFailed("provider_error", "empty description")
    return text


# --------------------------------------------------------------------------- offline: Tesseract


def prepare_for_ocr(image: Image.Image, *, max_pixels: int | None = None) -> Image.Image:
    """Grayscale, small images enlarged to OCR_MIN_WIDTH (within ``max_pixels``), contrast stretched:
    what helps Tesseract with phone photos of labels and receipts."""
    if max_pixels is None:
        max_pixels = int(settings.IMAGE_DESCRIPTION_MAX_PIXELS)
    gray = image.convert("L")
    scale = 1.0
    if gray.width < OCR_MIN_WIDTH:
        scale = min(OCR_MIN_WIDTH / gray.width, OCR_MAX_UPSCALE)
        if max_pixels > 0:
            scale = max(1.0, min(scale, (max_pixels / (gray.width * gray.height)) ** 0.5))
    scale = min(scale, TESSERACT_MAX_SIDE / max(gray.size))  # a 1x40000 strip: Tesseract refuses it
    if scale != 1.0:
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        gray = gray.resize(size, Image.Resampling.LANCZOS)
    return ImageOps.autocontrast(gray, cutoff=1)


def _ocr(image: Image.Image) -> str:
    langs, reason = _ocr_languages()
    if not langs:
        raise EnrichmentUnavailable("no_backend", reason)
    import pytesseract

    timeout = float(getattr(settings, "AI_OCR_TIMEOUT", 120) or 0)
    try:
        raw = run_at_idle_priority(  # the image's preparation too (tesseract_read then runs there at once)
            lambda: tesseract_read(  # a price list's prices stay on their items' lines
                prepare_for_ocr(image),
                langs=langs,
                config=settings.AI_OCR_TESSERACT_CONFIG or "",
                timeout=timeout,
                threads=int(getattr(settings, "AI_OCR_THREADS", 1) or 0),
            )
        )
    except pytesseract.TesseractNotFoundError as exc:
        raise EnrichmentUnavailable("no_backend", "tesseract is not installed") from exc
    except pytesseract.TesseractError as exc:
        raise EnrichmentFailed("provider_error", f"tesseract: {exc}"[:_DETAIL_CHARS]) from exc
    except RuntimeError as exc:  # pytesseract's "Tesseract process timeout"
        if "timeout" in str(exc).lower():
            raise EnrichmentTransient("timeout", f"tesseract gave up after {timeout:g} s") from exc
        raise EnrichmentFailed("provider_error", f"tesseract: {exc}"[:_DETAIL_CHARS]) from exc
    text = clean_ocr_text(raw)
    if not text:
        raise EnrichmentFailed("no_text")
    return text


# --------------------------------------------------------------------------- the entry point


def image_describe(
    path: Path,
    *,
    mime: str,
    prompt: str,
    clock: Callable[[], float] = time.monotonic,
) -> EnrichmentResult:
    """The image at ``path`` in words (see the module docstring); ``prompt`` is the vision model's
    instructions (empty: the built-in prompt; Tesseract ignores it). Raises EnrichmentFailed,
    EnrichmentTransient or EnrichmentUnavailable with a reason code."""
    started = clock()
    image = load_image(Path(path), mime=mime)
    if settings.OPENAI_API_KEY:
        from conversations.models.enrichment import DEFAULT_VISION_PROMPT

        text = _describe_online(image, prompt.strip() or settings.AI_VISION_PROMPT or DEFAULT_VISION_PROMPT)
        backend, source = OPENAI_VISION, "vision"
    else:
        text = _ocr(image)
        backend, source = TESSERACT, "ocr"
    elapsed_ms = max(0, round((clock() - started) * 1000))
    return EnrichmentResult(text=text, backend=backend, source=source, elapsed_ms=elapsed_ms)
