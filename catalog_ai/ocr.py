"""OCR for catalog pages without a text layer: Tesseract first, EasyOCR as the optional fallback.

Switches (seed names): AI_OCR_ENABLED, AI_OCR_TESSERACT_ENABLED, AI_OCR_LANG ("spa+eng"),
AI_OCR_TESSERACT_CONFIG, AI_OCR_EASYOCR_ENABLED, AI_OCR_EASYOCR_LANGS, AI_OCR_EASYOCR_DOWNLOAD_ENABLED,
AI_OCR_EASYOCR_VERBOSE, plus AI_OCR_TIMEOUT (seconds per page for Tesseract) and AI_OCR_THREADS
(OMP_THREAD_LIMIT for Tesseract; 1 by default, 0 = Tesseract's own default).

Tesseract counts as available when the binary runs and at least one of the AI_OCR_LANG languages is
installed (missing ones are left out with a warning). EasyOCR is imported lazily; it is not a dependency
of this project, so an ImportError (or a reader that cannot load its models with downloads disabled)
just makes it unavailable.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings

from whatsapp_ia.tesseract import tesseract_probe as _tesseract_probe
from whatsapp_ia.tesseract import tesseract_read

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

TESSERACT = "tesseract"
EASYOCR = "easyocr"

# Tesseract language code -> EasyOCR language code, for the default EasyOCR languages.
_EASYOCR_LANGS = {"spa": "es", "eng": "en", "por": "pt", "fra": "fr", "deu": "de", "ita": "it"}

_easyocr_lock = threading.Lock()
_easyocr_readers: dict[tuple[tuple[str, ...], bool], Any] = {}
_easyocr_failed: set[tuple[tuple[str, ...], bool]] = set()


def _tesseract_langs() -> str:
    import pytesseract

    cmd = str(getattr(pytesseract.pytesseract, "tesseract_cmd", "tesseract"))
    langs, reason = _tesseract_probe(cmd, settings.AI_OCR_LANG or "spa+eng")
    if not langs:
        logger.warning("Tesseract OCR unavailable: %s", reason)
    return langs


def _easyocr_key() -> tuple[tuple[str, ...], bool]:
    configured = [lang.strip() for lang in (settings.AI_OCR_EASYOCR_LANGS or "").split(",") if lang.strip()]
    if not configured:
        configured = [_EASYOCR_LANGS.get(lang, lang) for lang in (settings.AI_OCR_LANG or "spa+eng").split("+")]
    return tuple(dict.fromkeys(configured)), bool(settings.AI_OCR_EASYOCR_DOWNLOAD_ENABLED)


def _easyocr_installed() -> bool:
    return importlib.util.find_spec("easyocr") is not None


def _easyocr_reader() -> Any | None:
    key = _easyocr_key()
    with _easyocr_lock:
        if key in _easyocr_readers:
            return _easyocr_readers[key]
        if key in _easyocr_failed:
            return None
        try:
            import easyocr  # optional; not in requirements.txt

            reader = easyocr.Reader(
                list(key[0]),
                gpu=False,
                download_enabled=key[1],
                verbose=bool(settings.AI_OCR_EASYOCR_VERBOSE),
            )
        except ImportError:
            _easyocr_failed.add(key)
            return None
        except Exception as exc:  # missing models with downloads off, unsupported language...
            logger.warning("EasyOCR unavailable (%s): %s", ", ".join(key[0]), exc)
            _easyocr_failed.add(key)
            return None
        _easyocr_readers[key] = reader
        return reader


def ocr_available() -> list[str]:
    """The OCR engines this process would use, in order of preference ([] when OCR is off or nothing works)."""
    if not settings.AI_OCR_ENABLED:
        return []
    engines = []
    if settings.AI_OCR_TESSERACT_ENABLED and _tesseract_langs():
        engines.append(TESSERACT)
    if settings.AI_OCR_EASYOCR_ENABLED and _easyocr_installed() and _easyocr_key() not in _easyocr_failed:
        engines.append(EASYOCR)
    return engines


def ocr_unavailable_reason() -> str:
    """Why ocr_available() is empty, for people (English, technical names kept)."""
    if not settings.AI_OCR_ENABLED:
        return "OCR is disabled (AI_OCR_ENABLED=false)"
    reasons = []
    if not settings.AI_OCR_TESSERACT_ENABLED:
        reasons.append("Tesseract is disabled (AI_OCR_TESSERACT_ENABLED=false)")
    else:
        import pytesseract

        cmd = str(getattr(pytesseract.pytesseract, "tesseract_cmd", "tesseract"))
        reasons.append(_tesseract_probe(cmd, settings.AI_OCR_LANG or "spa+eng")[1] or "Tesseract failed")
    if not settings.AI_OCR_EASYOCR_ENABLED:
        reasons.append("EasyOCR is disabled (AI_OCR_EASYOCR_ENABLED=false)")
    elif not _easyocr_installed():
        reasons.append("EasyOCR is not installed")
    else:
        reasons.append("EasyOCR could not load its models (AI_OCR_EASYOCR_DOWNLOAD_ENABLED)")
    return "; ".join(reasons)


def _tesseract(image: Image.Image) -> str:
    import pytesseract

    langs = _tesseract_langs()
    if not langs:
        return ""
    timeout = float(getattr(settings, "AI_OCR_TIMEOUT", 120) or 0)
    threads = int(getattr(settings, "AI_OCR_THREADS", 1) or 0)
    try:
        return tesseract_read(  # at idle CPU priority: the ingestion runs beside the pipeline
            image, langs=langs, config=settings.AI_OCR_TESSERACT_CONFIG or "", timeout=timeout, threads=threads
        )
    except pytesseract.TesseractError as exc:
        logger.warning("Tesseract failed: %s", exc)
    except RuntimeError as exc:  # pytesseract's timeout
        logger.warning("Tesseract gave up after %ss: %s", timeout, exc)
    return ""


def _easyocr(image: Image.Image) -> str:
    reader = _easyocr_reader()
    if reader is None:
        return ""
    import numpy as np

    try:
        lines = reader.readtext(np.asarray(image.convert("RGB")), detail=0, paragraph=True)
    except Exception as exc:
        logger.warning("EasyOCR failed: %s", exc)
        return ""
    return "\n".join(str(line) for line in lines)


def ocr_page_image(image: Image.Image) -> tuple[str, str]:
    """(text, backend) for a rendered page: "tesseract", "easyocr", or ("", "") when OCR is off or finds nothing."""
    if not settings.AI_OCR_ENABLED:
        return "", ""
    if settings.AI_OCR_TESSERACT_ENABLED:
        text = _tesseract(image).strip()
        if text:
            return text, TESSERACT
    if settings.AI_OCR_EASYOCR_ENABLED and _easyocr_installed():
        text = _easyocr(image).strip()
        if text:
            return text, EASYOCR
    return "", ""
