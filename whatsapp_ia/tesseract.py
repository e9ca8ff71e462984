"""Tesseract probing shared by the catalog OCR (catalog_ai.ocr) and the customer-image OCR
(conversations.services.vision): is the binary there, and which of the wanted languages it has; and
``tesseract_read``, the one way both read an image (word boxes laid out by whatsapp_ia.ocr_layout).

The probe runs ``tesseract --version`` and ``--list-langs`` once per binary and language list
(cached for the life of the process; tests clear it with ``tesseract_probe.cache_clear()``).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

from whatsapp_ia.idle_priority import run_at_idle_priority
from whatsapp_ia.ocr_layout import layout_text, lines_from_data

logger = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def tesseract_probe(cmd: str, wanted: str) -> tuple[str, str]:
    """(languages to pass to tesseract, "" if usable; else "" and the reason). Cached per binary and languages.

    ``wanted`` is a Tesseract language list ("spa+eng"); the missing ones are left out with a warning.
    """
    import pytesseract

    try:
        version = pytesseract.get_tesseract_version()
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        return "", f"tesseract is not installed ({exc.__class__.__name__})"
    except Exception as exc:
        return "", f"tesseract does not run: {exc}"
    langs = [lang for lang in wanted.split("+") if lang]
    present = [lang for lang in langs if lang in installed]
    missing = [lang for lang in langs if lang not in installed]
    if not present:
        return "", f"tesseract {version} has none of the languages {wanted!r} (installed: {sorted(installed)})"
    if missing:
        logger.warning("Tesseract lacks language(s) %s; OCR uses %s", "+".join(missing), "+".join(present))
    return "+".join(present), ""


def tesseract_cmd() -> str:
    """The binary pytesseract runs (``pytesseract.pytesseract.tesseract_cmd``)."""
    import pytesseract

    return str(getattr(pytesseract.pytesseract, "tesseract_cmd", "tesseract"))


def tesseract_languages(wanted: str) -> tuple[str, str]:
    """:func:`tesseract_probe` for the binary pytesseract runs now."""
    return tesseract_probe(tesseract_cmd(), wanted or "spa+eng")


def limit_tesseract_threads(threads: int) -> None:
    """OMP_THREAD_LIMIT for Tesseract (0: its own default). Its OpenMP threads fight each other on small
    machines: 1 thread was 3x faster on 2 cores."""
    if threads > 0:
        os.environ["OMP_THREAD_LIMIT"] = str(threads)


def tesseract_read(image: Any, *, langs: str, config: str, timeout: float, threads: int) -> str:
    """The text of ``image`` (a PIL image) from Tesseract's word boxes, tables read row by row
    (whatsapp_ia.ocr_layout). pytesseract's errors reach the caller, who knows what a failure means there.

    Tesseract takes seconds of CPU per page: it runs at idle priority (``run_at_idle_priority``; the
    program inherits its thread's policy), so the replies to customers go first."""
    import pytesseract

    limit_tesseract_threads(threads)

    def read() -> str:
        data = pytesseract.image_to_data(
            image, lang=langs, config=config, timeout=timeout, output_type=pytesseract.Output.DICT
        )
        return layout_text(lines_from_data(data))

    return run_at_idle_priority(read)
