"""Catalog ingestion: upload checks, text per page (pypdf -> pdfium -> OCR), page images, chunks, index.

Services (keyword-only):
- catalog_create_from_upload(name=, file=, filename=) -> (catalog, created): checks the bytes are a readable,
  unencrypted PDF *before* storing anything (CatalogRejected(reason) otherwise); the same bytes twice give
  the existing catalog back, untouched.
- catalog_replace_file(catalog=, file=, filename=) -> changed: a new PDF for an existing catalog.
- catalog_ingest(catalog_id=, progress=) -> summary: the whole pipeline, with status/stage/pages_done saved
  on every page so the admin shows progress. Pages and chunks of the previous run are swapped for the new
  ones in one transaction at the end, so readers never see a half-written catalog.
- catalog_delete(catalog=), catalog_set_active(catalogs=, active=): change the set of indexed catalogs and
  rebuild the index (catalog_ai.index.index_rebuild) once the transaction commits.
- catalog_is_stalled(catalog=, now=), catalog_stall_sweep(now=), catalog_reset(catalog=, now=),
  catalog_release_lock(catalog_id=): a dead ingestion (its worker killed) is noticed by its heartbeat and can
  be resumed (catalog_ingest(resume=True) continues after the pages it finished) or reset.

Limits (hostile PDFs): AI_CATALOG_MAX_PAGES (refused at upload and at ingestion), AI_CATALOG_MAX_PAGE_PIXELS (a
page larger than that at the asked resolution is rendered scaled down to it, before pdfium allocates anything,
and the summary names it), AI_CATALOG_MAX_SECONDS (checked between pages; the failure names the limit), and
AI_CATALOG_STALL_SECONDS (the heartbeat age after which a processing catalog is stalled; also the lock's TTL).

While it runs, every finished page is appended to a checkpoint (a JSON-lines file in AI_CATALOG_CHECKPOINT_DIR), so
a resumed ingestion does not redo them; it is used only when the file and the render settings are the same.

Settings read here beyond the AI_OCR_* / AI_PAGE_IMAGE_* ones (all optional, see getattr defaults):
AI_SKU_PATTERN, AI_CHUNK_MAX_CHARS, AI_CHUNK_OVERLAP, AI_TEXT_MIN_CHARS, AI_CATALOG_MAX_BYTES and the limits above.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from catalog_ai.chunking import chunk_page, normalize_text
from catalog_ai.models import Catalog, CatalogChunk, CatalogPage, CatalogStatus
from catalog_ai.ocr import ocr_available, ocr_page_image, ocr_unavailable_reason
from catalog_ai.skus import DEFAULT_SKU_PATTERN, extract_skus

if TYPE_CHECKING:
    from collections.abc import Iterable

    from PIL import Image

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]

STAGE_TEXT = "text"
STAGE_OCR = "ocr"
STAGE_IMAGES = "images"
STAGE_CHUNKS = "chunks"
STAGE_INDEX = "index"
STAGES = (STAGE_TEXT, STAGE_OCR, STAGE_IMAGES, STAGE_CHUNKS, STAGE_INDEX)
#: The summary's key, while the index stage runs, for how far the embedding of the new chunks is.
EMBEDDING = "embedding"

INDEX_REBUILT = "rebuilt"
INDEX_NOT_AVAILABLE = "not available"

# pdfium is not thread-safe: one call at a time per process (Celery's threads pool runs tasks side by side).
PDFIUM_LOCK = threading.RLock()

_SPOOL_MAX_MEMORY = 16 * 1024 * 1024
_IMAGE_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_MAGIC = (
    (b"\x89PNG", gettext_noop("a PNG image")),
    (b"\xff\xd8\xff", gettext_noop("a JPEG image")),
    (b"GIF8", gettext_noop("a GIF image")),
    (b"PK\x03\x04", gettext_noop("a ZIP archive (Word, Excel or similar)")),
    (b"\xd0\xcf\x11\xe0", gettext_noop("an old Office document")),
    (b"{\\rtf", gettext_noop("an RTF document")),
)


class CatalogRejected(Exception):
    """The upload is not a PDF we can read; `reason` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _IngestError(Exception):
    """An expected failure with a message fit for the admin."""


class _CatalogGone(Exception):
    """The catalog was deleted while it was being ingested."""


class _Superseded(Exception):
    """Another run took this catalog over (this one was declared stalled and resumed or reset meanwhile)."""


# --- settings -----------------------------------------------------------------------------------------


def sku_pattern() -> str:
    return getattr(settings, "AI_SKU_PATTERN", "") or DEFAULT_SKU_PATTERN


def _chunk_options() -> dict[str, Any]:
    return {
        "max_chars": int(getattr(settings, "AI_CHUNK_MAX_CHARS", 900)),
        "overlap": int(getattr(settings, "AI_CHUNK_OVERLAP", 150)),
        "sku_pattern": sku_pattern(),
    }


def _max_bytes() -> int:
    return int(getattr(settings, "AI_CATALOG_MAX_BYTES", 200 * 1024 * 1024))


def max_pages() -> int:
    """AI_CATALOG_MAX_PAGES (0 = no limit)."""
    return max(int(getattr(settings, "AI_CATALOG_MAX_PAGES", 2000) or 0), 0)


def max_page_pixels() -> int:
    """AI_CATALOG_MAX_PAGE_PIXELS (0 = no limit)."""
    return max(int(getattr(settings, "AI_CATALOG_MAX_PAGE_PIXELS", 40_000_000) or 0), 0)


def max_seconds() -> float:
    """AI_CATALOG_MAX_SECONDS (0 = no limit)."""
    return max(float(getattr(settings, "AI_CATALOG_MAX_SECONDS", 2700) or 0), 0.0)


def stall_seconds() -> int:
    """AI_CATALOG_STALL_SECONDS: heartbeat age after which a processing catalog has stalled (at least 30)."""
    return max(int(getattr(settings, "AI_CATALOG_STALL_SECONDS", 600) or 0), 30)


def _too_many_pages(pages: int) -> str:
    """The refusal for a PDF over AI_CATALOG_MAX_PAGES, or "" when it is within the limit."""
    limit = max_pages()
    if not limit or pages <= limit:
        return ""
    return _(
        "The PDF has %(pages)d pages; the limit is %(limit)d pages (AI_CATALOG_MAX_PAGES). "
        "Split the catalog into smaller PDFs or raise the limit."
    ) % {"pages": pages, "limit": limit}


def capped_scale(*, width: float, height: float, scale: float, max_pixels: int) -> float:
    """The render scale for a page of width x height points: `scale`, or less so that the bitmap has at most
    `max_pixels` pixels (0 = no limit)."""
    if max_pixels <= 0 or width <= 0 or height <= 0:
        return scale

    def pixels(factor: float) -> int:
        return math.ceil(width * factor) * math.ceil(height * factor)

    if pixels(scale) <= max_pixels:
        return scale
    factor = scale * math.sqrt(max_pixels / pixels(scale))
    while factor > 0 and pixels(factor) > max_pixels:  # ceil() rounding: a few steps at most
        factor *= 0.995
    return factor


def _image_format() -> tuple[str, str]:
    """(Pillow format, file extension) from AI_PAGE_IMAGE_FORMAT."""
    from PIL import Image

    fmt = (settings.AI_PAGE_IMAGE_FORMAT or "JPEG").strip().upper()
    fmt = {"JPG": "JPEG"}.get(fmt, fmt)
    Image.init()
    if fmt not in Image.SAVE:
        raise _IngestError(
            _("AI_PAGE_IMAGE_FORMAT=%(format)s is not an image format this server can write (use JPEG, PNG or WEBP).")
            % {"format": settings.AI_PAGE_IMAGE_FORMAT}
        )
    ext = _IMAGE_EXTENSIONS.get(fmt) or next(
        (e.lstrip(".") for e, f in Image.registered_extensions().items() if f == fmt), fmt.lower()
    )
    return fmt, ext


def page_image_dir(sha256: str) -> Path:
    """MEDIA_ROOT/AI_PAGE_IMAGE_DIR/<hash>: where a catalog's page images live."""
    return Path(settings.MEDIA_ROOT) / settings.AI_PAGE_IMAGE_DIR / sha256


def _media_relative(path: Path) -> str:
    try:
        return path.relative_to(Path(settings.MEDIA_ROOT)).as_posix()
    except ValueError:
        return str(path)


def _media_absolute(name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else Path(settings.MEDIA_ROOT) / path


# --- upload checks ------------------------------------------------------------------------------------


def _spool(file: Any) -> tuple[IO[bytes], str, int]:
    """Copy the upload into a seekable temporary file, hashing it on the way: (copy, sha256, size)."""
    if hasattr(file, "seek"):
        with contextlib.suppress(OSError, ValueError):
            file.seek(0)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX_MEMORY)  # noqa: SIM115 - returned to the caller
    digest = hashlib.sha256()
    size = 0
    limit = _max_bytes()
    chunks = file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(1024 * 1024), b"")
    for chunk in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode()
        size += len(chunk)
        if limit and size > limit:
            spool.close()
            raise CatalogRejected(
                _("The file is too large (over %(limit)d MB). Split the catalog or raise AI_CATALOG_MAX_BYTES.")
                % {"limit": limit // (1024 * 1024)}
            )
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool, digest.hexdigest(), size


def _validate_pdf(stream: IO[bytes], size: int) -> int:
    """The page count of a readable, unencrypted PDF; CatalogRejected(reason) otherwise."""
    import pypdf
    import pypdfium2

    if size == 0:
        raise CatalogRejected(_("The file is empty."))
    head = stream.read(1024)
    stream.seek(0)
    if b"%PDF-" not in head:
        kind = next((label for magic, label in _MAGIC if head.startswith(magic)), "")
        if kind:
            raise CatalogRejected(
                _("This is not a PDF: the file is %(kind)s. Export the catalog as PDF and upload that.")
                % {"kind": _(kind)}
            )
        raise CatalogRejected(_("This is not a PDF file. Export the catalog as PDF and upload that."))

    try:
        reader = pypdf.PdfReader(stream, strict=False)
        encrypted = reader.is_encrypted
        if encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
            raise CatalogRejected(
                _("The PDF is protected with a password. Save a copy without the password and upload that.")
            )
    except CatalogRejected:
        raise
    except pypdf.errors.DependencyError as exc:
        logger.info("Encrypted PDF needs a missing dependency: %s", exc)
        raise CatalogRejected(
            _("The PDF is encrypted in a way this server cannot open. Save a copy without protection and upload that.")
        ) from exc
    except Exception as exc:
        logger.info("Unreadable PDF upload: %s: %s", exc.__class__.__name__, exc)
        raise CatalogRejected(
            _("The PDF is damaged or incomplete (was the upload cut short?). Export it again and upload the new copy.")
        ) from exc
    finally:
        stream.seek(0)

    # pdfium renders the pages later: it must be able to open the file too. It also counts the pages
    # without walking the page tree in Python (pypdf took 3 s for 20,000 pages, pdfium 0.03 s).
    try:
        with PDFIUM_LOCK:
            document = pypdfium2.PdfDocument(stream)  # reads from the stream as needed, never all at once
            pages = len(document)
            document.close()
        stream.seek(0)
    except pypdfium2.PdfiumError as exc:
        logger.info("pdfium cannot open the upload: %s", exc)
        if "password" in str(exc).lower():
            raise CatalogRejected(
                _("The PDF is protected with a password. Save a copy without the password and upload that.")
            ) from exc
        raise CatalogRejected(
            _("The PDF is damaged or incomplete (was the upload cut short?). Export it again and upload the new copy.")
        ) from exc
    if pages == 0:
        raise CatalogRejected(_("The PDF has no pages."))
    if reason := _too_many_pages(pages):
        raise CatalogRejected(reason)
    return pages


def _stored_name(filename: str) -> str:
    stem = Path(filename or "").stem[:150]
    name = get_valid_filename(stem) if stem.strip(" ._-") else "catalog"
    return f"{name}.pdf"


def catalog_create_from_upload(*, name: str, file: Any, filename: str) -> tuple[Catalog, bool]:
    """(catalog, True) for a new PDF, stored under MEDIA_ROOT/catalogs/ with status pending;
    (existing catalog, False) when a catalog with the same SHA-256 exists (nothing changes).
    Raises CatalogRejected(reason) for anything but a readable, unencrypted PDF, before storing it."""
    spool, digest, size = _spool(file)
    try:
        existing = Catalog.objects.filter(sha256=digest).first()
        if existing is not None:
            return existing, False
        _validate_pdf(spool, size)
        name = (name or "").strip() or Path(filename or "").stem.strip() or _("Catalog")
        catalog = Catalog(name=name[:200], sha256=digest, status=CatalogStatus.PENDING)
        stored = _stored_name(filename)
        catalog.file.save(stored, File(spool, name=stored), save=False)
        try:
            with transaction.atomic():
                catalog.save()
        except IntegrityError:  # the same file uploaded twice at once: the other upload won
            catalog.file.delete(save=False)
            return Catalog.objects.get(sha256=digest), False
        logger.info("Catalog %s stored (%s, %d bytes)", catalog.pk, catalog.file.name, size)
        return catalog, True
    finally:
        spool.close()


def catalog_replace_file(*, catalog: Catalog, file: Any, filename: str) -> bool:
    """Give `catalog` a new PDF (status pending; the caller enqueues the ingestion). False when it is the same file.

    The old PDF is deleted once the transaction commits; the old pages stay searchable until the new ones
    replace them at the end of the ingestion."""
    spool, digest, size = _spool(file)
    try:
        if digest == catalog.sha256:
            return False
        other = Catalog.objects.filter(sha256=digest).exclude(pk=catalog.pk).first()
        if other is not None:
            raise CatalogRejected(_("This file is already loaded as the catalog “%(name)s”.") % {"name": other.name})
        _validate_pdf(spool, size)
        if catalog_is_stalled(catalog=catalog):  # its dead worker's lock must not turn the new run away
            catalog_release_lock(catalog_id=catalog.pk)
        if catalog.sha256:
            _checkpoint_path(catalog.sha256).unlink(missing_ok=True)
        old_name = catalog.file.name
        stored = _stored_name(filename)
        catalog.file.save(stored, File(spool, name=stored), save=False)
        catalog.sha256 = digest
        catalog.status = CatalogStatus.PENDING
        catalog.stage = ""
        catalog.pages_done = 0
        catalog.pages_total = 0
        catalog.error = ""
        catalog.save()
        if old_name and old_name != catalog.file.name:
            transaction.on_commit(lambda: default_storage.delete(old_name), robust=True)
        return True
    finally:
        spool.close()


# --- index --------------------------------------------------------------------------------------------


def _index_rebuild(progress: Callable[[int, int], None] | None = None) -> tuple[str, dict[str, Any]]:
    """("rebuilt", what index_rebuild() reported) or ("not available", {}) while catalog_ai.index is missing.

    ``progress(embedded, to_embed)`` follows the embedding of the chunks the index does not hold yet."""
    try:
        from catalog_ai.index import index_rebuild
    except ImportError as exc:
        logger.warning("Catalog index not rebuilt: %s", exc)
        return INDEX_NOT_AVAILABLE, {}
    result = index_rebuild(progress=progress) if progress is not None else index_rebuild()
    info = {k: v for k, v in result.items() if isinstance(v, str | int | float)} if isinstance(result, dict) else {}
    return INDEX_REBUILT, info


def index_rebuild_now() -> str:
    """Rebuild the retrieval index of all active catalogs: "rebuilt", or "not available" without catalog_ai.index."""
    return _index_rebuild()[0]


def index_rebuild_on_commit() -> None:
    transaction.on_commit(index_rebuild_now, robust=True)


def catalog_set_active(*, catalogs: QuerySet[Catalog] | Iterable[Catalog], active: bool) -> int:
    """Include (or leave out) catalogs in the index; the index is rebuilt after the commit when anything changed."""
    ids = [c.pk for c in catalogs]
    changed = Catalog.objects.filter(pk__in=ids).exclude(active=active).update(active=active)
    if changed:
        index_rebuild_on_commit()
    return changed


def catalog_delete(*, catalog: Catalog, rebuild_index: bool = True) -> None:
    """Delete the catalog, its pages and chunks; its PDF and page images go once the transaction commits,
    then the index is rebuilt (pass rebuild_index=False to rebuild once after deleting several)."""
    images = [name for name in CatalogPage.objects.filter(catalog=catalog).values_list("image", flat=True) if name]
    image_dir = page_image_dir(catalog.sha256) if catalog.sha256 else None
    file_name = catalog.file.name
    catalog.delete()

    def cleanup() -> None:
        if file_name:
            default_storage.delete(file_name)
        if image_dir is not None:
            _checkpoint_path(image_dir.name).unlink(missing_ok=True)
        _remove_images(images)
        if image_dir is not None and not Catalog.objects.filter(sha256=image_dir.name).exists():
            shutil.rmtree(image_dir, ignore_errors=True)

    transaction.on_commit(cleanup, robust=True)
    if rebuild_index:
        index_rebuild_on_commit()


def _remove_images(names: Iterable[str]) -> None:
    parents = set()
    for name in names:
        path = _media_absolute(name)
        path.unlink(missing_ok=True)
        parents.add(path.parent)
    for parent in parents:
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty


# --- ingestion ----------------------------------------------------------------------------------------


_local = threading.local()


@contextlib.contextmanager
def _ingest_lock(catalog_id: int) -> Iterator[bool]:
    """One ingestion per catalog at a time (Redis lock, renewed per page). Without Redis: no lock."""
    import redis

    lock = None
    try:
        from whatsapp_ia.redis_client import redis_client

        lock = redis_client().lock(_lock_name(catalog_id), timeout=stall_seconds(), blocking=False)
        acquired = bool(lock.acquire(blocking=False))
    except (redis.exceptions.RedisError, OSError, AttributeError) as exc:
        logger.warning("Ingesting catalog %s without a lock: %s", catalog_id, exc)
        lock, acquired = None, True
    _local.lock = lock if acquired else None
    try:
        yield acquired
    finally:
        _local.lock = None
        if acquired and lock is not None:
            with contextlib.suppress(redis.exceptions.RedisError):
                lock.release()


def _lock_name(catalog_id: int) -> str:
    return f"wia:lock:catalog_ingest:{catalog_id}"


def _renew_lock() -> None:
    """Extend this run's lock; _Superseded when it was taken away (the run was declared stalled and reset)."""
    import redis

    lock = getattr(_local, "lock", None)
    if lock is None:
        return
    try:
        lock.reacquire()
    except redis.exceptions.LockNotOwnedError:
        raise _Superseded from None
    except Exception as exc:
        logger.warning("Could not renew the catalog ingestion lock: %s", exc)


def catalog_release_lock(*, catalog_id: int) -> None:
    """Drop the ingestion lock a dead worker left behind (only for a catalog known to be stalled)."""
    import redis

    try:
        from whatsapp_ia.redis_client import redis_client

        redis_client().delete(_lock_name(catalog_id))
    except (redis.exceptions.RedisError, OSError) as exc:
        logger.warning("Could not release the ingestion lock of catalog %s: %s", catalog_id, exc)


# --- stalled ingestions -------------------------------------------------------------------------------


def _stall_cutoff(now: datetime | None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=stall_seconds())


def catalog_is_stalled(*, catalog: Catalog, now: datetime | None = None) -> bool:
    """True when the catalog's ingestion died: marked stalled, or processing without a heartbeat for longer than
    AI_CATALOG_STALL_SECONDS."""
    if catalog.status == CatalogStatus.STALLED:
        return True
    if catalog.status != CatalogStatus.PROCESSING:
        return False
    beat = catalog.heartbeat_at or catalog.updated_at
    return beat is not None and beat < _stall_cutoff(now)


def _stalled_error(catalog: Catalog) -> str:
    return _(
        "The ingestion stopped at page %(page)d of %(total)d (%(stage)s): no sign of life for over %(seconds)d "
        "seconds (AI_CATALOG_STALL_SECONDS); its worker was probably stopped or ran out of memory. Resume it to "
        "continue after the pages already done, or reset it."
    ) % {
        "page": min(catalog.pages_done + 1, max(catalog.pages_total, 1)),
        "total": catalog.pages_total,
        "stage": stage_label(catalog.stage) or "—",
        "seconds": stall_seconds(),
    }


def catalog_stall_sweep(*, now: datetime | None = None) -> list[int]:
    """Mark every processing catalog whose heartbeat is older than AI_CATALOG_STALL_SECONDS as stalled, with a
    reason; returns their ids. A run that beats meanwhile is left alone (conditional update)."""
    cutoff = _stall_cutoff(now)
    marked = []
    stale = Catalog.objects.filter(status=CatalogStatus.PROCESSING).filter(
        models.Q(heartbeat_at__lt=cutoff) | models.Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    )
    for catalog in stale:
        changed = (
            Catalog.objects.filter(pk=catalog.pk, status=CatalogStatus.PROCESSING)
            .filter(models.Q(heartbeat_at=catalog.heartbeat_at) if catalog.heartbeat_at else models.Q())
            .update(status=CatalogStatus.STALLED, error=_stalled_error(catalog))
        )
        if changed:
            logger.warning("Catalog %s ingestion stalled at page %d", catalog.pk, catalog.pages_done)
            marked.append(catalog.pk)
    return marked


def catalog_reset(*, catalog: Catalog, now: datetime | None = None) -> bool:
    """Forget a dead ingestion: lock released, checkpoint deleted, status failed with a note, so the catalog can
    be ingested again or get a new file. False (nothing changes) unless it is stalled or failed."""
    if not (catalog_is_stalled(catalog=catalog, now=now) or catalog.status == CatalogStatus.FAILED):
        return False
    catalog_release_lock(catalog_id=catalog.pk)
    if catalog.sha256:
        _checkpoint_path(catalog.sha256).unlink(missing_ok=True)
    catalog.status = CatalogStatus.FAILED
    catalog.stage = ""
    catalog.pages_done = 0
    catalog.error = _("The interrupted ingestion was reset. Re-ingest the catalog or upload a new file.")
    catalog.save(update_fields=["status", "stage", "pages_done", "error", "updated_at"])
    return True


# --- checkpoint -----------------------------------------------------------------------------------------


def _checkpoint_path(sha256: str) -> Path:
    """AI_CATALOG_CHECKPOINT_DIR/<hash>.jsonl: private (not under MEDIA_ROOT, whose page images are public)."""
    return Path(settings.AI_CATALOG_CHECKPOINT_DIR) / f"{sha256}.jsonl"


def _checkpoint_signature(catalog: Catalog, image_format: tuple[str, str]) -> dict[str, Any]:
    """What the saved pages depend on: a checkpoint made with other values is not reused."""
    return {
        "sha256": catalog.sha256,
        "ocr": bool(settings.AI_OCR_ENABLED),
        "ocr_dpi": int(settings.AI_OCR_DPI or 220),
        "image_scale": float(settings.AI_PAGE_IMAGE_SCALE or 1.0),
        "image_format": image_format[0],
        "max_page_pixels": max_page_pixels(),
        "text_min_chars": int(getattr(settings, "AI_TEXT_MIN_CHARS", 20)),
    }


def _checkpoint_load(path: Path, signature: dict[str, Any], total: int) -> list[_Page]:
    """The pages 1..n a previous run of the same file finished (stops at a line cut short by a kill)."""
    pages: list[_Page] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return pages
    try:
        if not lines or json.loads(lines[0]).get("signature") != signature:
            return pages
    except (ValueError, AttributeError):
        return pages
    for line in lines[1:]:
        try:
            page = _Page(**json.loads(line))
        except (ValueError, TypeError):
            break
        if page.number != len(pages) + 1 or page.number > total:
            break
        if page.image and not _media_absolute(page.image).exists():
            break
        pages.append(page)
    return pages


def _checkpoint_append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _alnum(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _usable(text: str) -> bool:
    """Enough real characters to skip OCR (a text layer of mojibake or a lone page number is not)."""
    if not text:
        return False
    bad = text.count("\ufffd") + text.count("(cid:")
    return _alnum(text) >= int(getattr(settings, "AI_TEXT_MIN_CHARS", 20)) and bad * 10 < len(text)


@dataclass
class _Page:
    number: int
    text: str = ""
    backend: str = ""
    image: str = ""
    needs_ocr: bool = False
    no_text: bool = False
    scaled: bool = False  # rendered below the asked resolution (AI_CATALOG_MAX_PAGE_PIXELS)


@dataclass
class _Ingestion:
    catalog: Catalog
    progress: Progress | None
    clock: Callable[[], float] = time.monotonic
    resume: bool = False
    pages: list[_Page] = field(default_factory=list)
    started: float = 0.0
    engines: list[str] | None = None
    chunk_skus: list[str] = field(default_factory=list)
    resumed_pages: int = 0

    # progress ------------------------------------------------------------------------------------------

    def _save(self, *fields: str) -> None:
        self.catalog.heartbeat_at = timezone.now()  # every save is a sign of life
        try:
            with transaction.atomic():  # a savepoint when called inside a transaction, which survives the error
                self.catalog.save(update_fields=[*fields, "heartbeat_at", "updated_at"])
        except DatabaseError:
            if not Catalog.objects.filter(pk=self.catalog.pk).exists():
                raise _CatalogGone from None
            raise

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.catalog.pages_done, self.catalog.pages_total, self.catalog.stage)

    def stage(self, stage: str) -> None:
        if self.catalog.stage != stage:
            self.catalog.stage = stage
            self._save("stage")
            self._report()

    def embedding_done(self, done: int, total: int) -> None:
        """Index stage: ``done`` of the ``total`` new chunk texts are embedded (shown in the admin's list)."""
        self.catalog.summary = {EMBEDDING: {"done": done, "total": total}}
        self._save("summary")
        self._report()
        _renew_lock()

    def page_done(self, number: int) -> None:
        self.catalog.pages_done = number
        self._save("pages_done", "stage")
        self._report()
        _renew_lock()

    # steps ---------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        catalog = self.catalog
        self.started = self.clock()
        catalog.status = CatalogStatus.PROCESSING
        catalog.stage = STAGE_TEXT
        catalog.pages_done = 0
        catalog.error = ""
        catalog.summary = {}
        self._save("status", "stage", "pages_done", "error", "summary")
        try:
            return self._run()
        except _Superseded:
            logger.warning("Catalog %s: this ingestion was declared stalled and taken over; stopping", catalog.pk)
            return {"skipped": "superseded"}
        except _CatalogGone:
            logger.info("Catalog %s was deleted during its ingestion", catalog.pk)
            shutil.rmtree(page_image_dir(catalog.sha256), ignore_errors=True)
            return {"error": "deleted"}
        except _IngestError as exc:
            return self._fail(str(exc))
        except Exception as exc:
            logger.exception("Ingestion of catalog %s failed at %s", catalog.pk, catalog.stage)
            return self._fail(
                _("Unexpected error at the “%(stage)s” step, page %(page)d of %(total)d: %(error)s")
                % {
                    "stage": stage_label(catalog.stage),
                    "page": min(catalog.pages_done + 1, catalog.pages_total or 1),
                    "total": catalog.pages_total,
                    "error": f"{exc.__class__.__name__}: {exc}"[:300],
                }
            )
        except BaseException:  # Ctrl+C in `ingest_catalog --wait`, worker shutdown
            with contextlib.suppress(Exception):
                self._fail(_("The ingestion was interrupted before it finished. Re-ingest the catalog."))
            raise

    def _fail(self, error: str) -> dict[str, Any]:
        catalog = self.catalog
        summary = {
            "error": error,
            "failed_stage": catalog.stage,
            "pages": catalog.pages_total,
            "pages_done": catalog.pages_done,
            "seconds": round(self.clock() - self.started, 1),
        }
        if self.resumed_pages:
            summary["resumed_from_page"] = self.resumed_pages + 1
        catalog.status = CatalogStatus.FAILED
        catalog.error = error
        catalog.summary = summary
        try:
            self._save("status", "error", "summary")
        except _CatalogGone:
            return {"error": "deleted"}
        logger.warning("Catalog %s ingestion failed: %s", catalog.pk, error)
        return summary

    def _run(self) -> dict[str, Any]:
        image_format = _image_format()
        with _local_pdf(self.catalog) as path:
            self._extract(path, image_format)
        self.stage(STAGE_CHUNKS)
        chunks = self._write_rows()
        _checkpoint_path(self.catalog.sha256).unlink(missing_ok=True)
        return self._finish(chunks)

    def _check_time(self, index: int, total: int) -> None:
        """Between pages: stop with a clear reason once the run has taken longer than AI_CATALOG_MAX_SECONDS."""
        limit = max_seconds()
        elapsed = self.clock() - self.started
        if limit and elapsed > limit:
            raise _IngestError(
                _(
                    "The ingestion took longer than the limit of %(limit)d seconds (AI_CATALOG_MAX_SECONDS): it "
                    "stopped after page %(done)d of %(total)d. Resume it to continue from there, split the catalog "
                    "or raise the limit."
                )
                % {"limit": limit, "done": index, "total": total}
            )

    def _start_checkpoint(self, image_format: tuple[str, str], total: int) -> Path:
        """Load the pages a previous run finished (resume) or start an empty checkpoint; returns its path."""
        path = _checkpoint_path(self.catalog.sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        signature = _checkpoint_signature(self.catalog, image_format)
        if self.resume:
            self.pages = _checkpoint_load(path, signature, total)
            self.resumed_pages = len(self.pages)
        path.unlink(missing_ok=True)
        _checkpoint_append(path, {"signature": signature})
        for page in self.pages:
            _checkpoint_append(path, asdict(page))
        if self.pages:
            logger.info("Catalog %s: resuming after page %d", self.catalog.pk, len(self.pages))
        return path

    def _extract(self, path: Path, image_format: tuple[str, str]) -> None:
        import pypdf
        import pypdfium2

        try:
            with PDFIUM_LOCK:
                document = pypdfium2.PdfDocument(str(path))
                total = len(document)
        except pypdfium2.PdfiumError as exc:
            raise _IngestError(
                _("The PDF cannot be opened (damaged or password-protected): %(error)s") % {"error": exc}
            ) from exc
        try:
            with path.open("rb") as fh:
                reader: pypdf.PdfReader | None
                try:
                    reader = pypdf.PdfReader(fh, strict=False)
                    if reader.is_encrypted:
                        reader.decrypt("")
                    if len(reader.pages) != total:
                        logger.info("pypdf sees %d pages, pdfium %d: using pdfium's text", len(reader.pages), total)
                        reader = None
                except Exception as exc:
                    logger.info("pypdf cannot read catalog %s (%s); using pdfium's text", self.catalog.pk, exc)
                    reader = None
                if reason := _too_many_pages(total):
                    raise _IngestError(reason)
                out_dir = page_image_dir(self.catalog.sha256)
                out_dir.mkdir(parents=True, exist_ok=True)
                checkpoint = self._start_checkpoint(image_format, total)
                self.catalog.pages_total = total
                self.catalog.pages_done = len(self.pages)
                self._save("pages_total", "pages_done")
                self._report()
                for index in range(len(self.pages), total):
                    self._check_time(index, total)
                    page = self._page(index, reader, document, out_dir, image_format)
                    self.pages.append(page)
                    _checkpoint_append(checkpoint, asdict(page))
                    self.page_done(index + 1)
        finally:
            with PDFIUM_LOCK:
                document.close()

    def _page(self, index: int, reader: Any, document: Any, out_dir: Path, image_format: tuple[str, str]) -> _Page:
        page = _Page(number=index + 1)
        self.stage(STAGE_TEXT)
        candidates: list[tuple[str, str]] = []
        if reader is not None:
            try:
                candidates.append((normalize_text(reader.pages[index].extract_text() or ""), "pypdf"))
            except Exception as exc:
                logger.info("pypdf failed on page %d: %s", page.number, exc)
        if not (candidates and _usable(candidates[-1][0])):
            with PDFIUM_LOCK:
                pdf_page = document[index]
                textpage = pdf_page.get_textpage()
                try:
                    candidates.append((normalize_text(textpage.get_text_range()), "pdfium"))
                finally:
                    textpage.close()
                    pdf_page.close()
        best = max(candidates, key=lambda c: _alnum(c[0]), default=("", ""))
        rendered: tuple[float, Image.Image] | None = None
        if _usable(best[0]):
            page.text, page.backend = best
        else:
            page.needs_ocr = True
            if self.engines is None:
                self.engines = ocr_available()
            if self.engines:
                self.stage(STAGE_OCR)
                scale = max(int(settings.AI_OCR_DPI or 220), 50) / 72
                image, scaled = _render(document, index, scale)
                page.scaled = page.scaled or scaled
                rendered = (scale, image)
                text, backend = ocr_page_image(image)
                text = normalize_text(text)
                if text and _alnum(text) >= _alnum(best[0]):
                    best = (text, backend)
            if _alnum(best[0]):
                page.text, page.backend = best
        page.no_text = not _alnum(page.text)
        if page.no_text:
            page.text, page.backend = "", ""

        self.stage(STAGE_IMAGES)
        scale = float(settings.AI_PAGE_IMAGE_SCALE or 1.0)
        if rendered and abs(rendered[0] - scale) < 1e-6:
            image = rendered[1]
        else:
            rendered = None  # the OCR render is not needed any more: free it before the next one
            image, scaled = _render(document, index, scale)
            page.scaled = page.scaled or scaled
        page.image = _media_relative(_save_image(image, out_dir, page.number, image_format))
        return page

    def _write_rows(self) -> int:
        """Swap this catalog's pages and chunks for the new ones in one transaction; returns the chunk count."""
        _renew_lock()  # _Superseded if the run was declared stalled and taken over meanwhile: write nothing
        options = _chunk_options()
        chunk_rows: list[tuple[int, int, str, list[str], str]] = []
        for page in self.pages:
            for position, text in enumerate(chunk_page(page.text, **options)):
                chunk_rows.append(
                    (page.number, position, text, extract_skus(text, options["sku_pattern"]), page.backend)
                )
        with transaction.atomic():
            if not Catalog.objects.select_for_update().filter(pk=self.catalog.pk).exists():
                raise _CatalogGone
            previous = set(CatalogPage.objects.filter(catalog=self.catalog).values_list("image", flat=True))
            CatalogPage.objects.filter(catalog=self.catalog).delete()  # cascades to the chunks
            CatalogPage.objects.bulk_create(
                [
                    CatalogPage(
                        catalog=self.catalog,
                        number=p.number,
                        text=p.text,
                        backend=p.backend,
                        image=p.image,
                        needs_ocr=p.needs_ocr,
                        no_text=p.no_text,
                    )
                    for p in self.pages
                ],
                batch_size=500,
            )
            page_ids = dict(CatalogPage.objects.filter(catalog=self.catalog).values_list("number", "pk"))
            CatalogChunk.objects.bulk_create(
                [
                    CatalogChunk(
                        catalog=self.catalog,
                        page_id=page_ids[number],
                        position=position,
                        text=text,
                        skus=skus,
                        backend=backend,
                    )
                    for number, position, text, skus, backend in chunk_rows
                ],
                batch_size=500,
            )
            stale = previous - {p.image for p in self.pages} - {""}
            if stale:
                transaction.on_commit(lambda: _remove_images(stale), robust=True)
        self.chunk_skus = [sku for row in chunk_rows for sku in row[3]]
        return len(chunk_rows)

    def _finish(self, chunks: int) -> dict[str, Any]:
        catalog = self.catalog
        pages = self.pages
        backends = Counter(p.backend or "none" for p in pages)
        no_text = [p.number for p in pages if p.no_text]
        ocr_pages = [p.number for p in pages if p.backend in ("tesseract", "easyocr")]
        scaled = [p.number for p in pages if p.scaled]
        skus = list(dict.fromkeys(self.chunk_skus))
        notes: list[str] = []
        if scaled:
            notes.append(
                ngettext(
                    "%(count)d page is larger than %(limit)d pixels at the configured resolution and was read at "
                    "a lower one (%(pages)s; AI_CATALOG_MAX_PAGE_PIXELS).",
                    "%(count)d pages are larger than %(limit)d pixels at the configured resolution and were read "
                    "at a lower one (%(pages)s; AI_CATALOG_MAX_PAGE_PIXELS).",
                    len(scaled),
                )
                % {"count": len(scaled), "limit": max_page_pixels(), "pages": _page_list(scaled)}
            )
        why = (ocr_unavailable_reason() if not self.engines else _("OCR found no text on them")) if no_text else ""
        if no_text:
            notes.append(
                ngettext(
                    "%(count)d page has no text (%(pages)s): %(why)s.",
                    "%(count)d pages have no text (%(pages)s): %(why)s.",
                    len(no_text),
                )
                % {"count": len(no_text), "pages": _page_list(no_text), "why": why}
            )
        summary: dict[str, Any] = {
            "pages": len(pages),
            "chunks": chunks,
            "ocr_pages": len(ocr_pages),
            "no_text_pages": len(no_text),
            "skus": len(skus),
            "seconds": 0.0,
            "backends": dict(sorted(backends.items())),
            "ocr_engines": self.engines if self.engines is not None else [],
            "no_text_page_numbers": no_text[:100],
            "scaled_page_numbers": scaled[:100],
            "sku_examples": skus[:10],
            "images": _media_relative(page_image_dir(catalog.sha256)),
            "notes": notes,
        }
        if self.resumed_pages:
            summary["resumed_from_page"] = self.resumed_pages + 1
        if chunks == 0:
            error = _("There is no text in this PDF to search: %(why)s.") % {"why": why or _("the pages are empty")}
            summary["seconds"] = round(self.clock() - self.started, 1)
            summary["error"] = error
            catalog.status = CatalogStatus.FAILED
            catalog.error = error
            catalog.summary = summary
            catalog.stage = ""
            self._save("status", "error", "summary", "stage")
            return summary

        # Ready before the rebuild, so the index (active + ready catalogs) includes this one.
        catalog.status = CatalogStatus.READY
        catalog.stage = STAGE_INDEX
        self._save("status", "stage")
        self._report()
        _renew_lock()
        index_started = self.clock()
        try:
            summary["index"], info = _index_rebuild(self.embedding_done)
        except Exception as exc:
            logger.exception("Index rebuild after catalog %s failed", catalog.pk)
            raise _IngestError(
                _("Pages and chunks were saved, but the search index could not be rebuilt: %(error)s")
                % {"error": f"{exc.__class__.__name__}: {exc}"[:300]}
            ) from exc
        summary["index_seconds"] = round(self.clock() - index_started, 1)
        if info:
            summary["index_info"] = info
        if summary["index"] == INDEX_NOT_AVAILABLE:
            notes.append(_("index: not available"))
        summary["seconds"] = round(self.clock() - self.started, 1)
        catalog.summary = summary
        catalog.stage = ""
        self._save("summary", "stage")
        self._report()
        logger.info("Catalog %s ingested: %s", catalog.pk, summary)
        return summary


def _page_list(numbers: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + ("…" if len(numbers) > limit else "")


def _render(document: Any, index: int, scale: float) -> tuple[Image.Image, bool]:
    """(the page rendered at `scale` or lower, True when lowered): never more than AI_CATALOG_MAX_PAGE_PIXELS
    pixels, decided from the page size before pdfium allocates the bitmap."""
    with PDFIUM_LOCK:
        page = document[index]
        try:
            width, height = page.get_size()
            factor = capped_scale(width=width, height=height, scale=scale, max_pixels=max_page_pixels())
            bitmap = page.render(scale=factor)
            image = bitmap.to_pil()
            image.load()
            bitmap.close()
        finally:
            page.close()
    return image, factor < scale


def _save_image(image: Image.Image, out_dir: Path, number: int, image_format: tuple[str, str]) -> Path:
    """Write page_XXXX.<ext> atomically (a temporary file, then rename)."""
    fmt, ext = image_format
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    target = out_dir / f"page_{number:04d}.{ext}"
    options: dict[str, Any] = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = int(settings.AI_PAGE_IMAGE_QUALITY or 85)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".page_{number:04d}.", suffix=f".{ext}")
    try:
        with os.fdopen(fd, "wb") as fh:
            image.save(fh, format=fmt, **options)
        os.chmod(tmp, 0o644)  # served as media
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@contextlib.contextmanager
def _local_pdf(catalog: Catalog) -> Iterator[Path]:
    """A filesystem path to the catalog's PDF (a temporary copy when the storage is not local)."""
    if not catalog.file:
        raise _IngestError(_("The catalog has no PDF file."))
    try:
        path = Path(catalog.file.path)
    except NotImplementedError:
        path = None
    if path is not None:
        if not path.exists():
            raise _IngestError(
                _("The PDF file is missing from the server (%(name)s). Upload it again.") % {"name": catalog.file.name}
            )
        yield path
        return
    try:
        source = catalog.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise _IngestError(
            _("The PDF file is missing from the server (%(name)s). Upload it again.") % {"name": catalog.file.name}
        ) from exc
    with source, tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        shutil.copyfileobj(source, tmp)
        tmp.flush()
        yield Path(tmp.name)


def stage_label(stage: str) -> str:
    labels = {
        STAGE_TEXT: _("Reading text"),
        STAGE_OCR: _("OCR"),
        STAGE_IMAGES: _("Page images"),
        STAGE_CHUNKS: _("Chunks"),
        STAGE_INDEX: _("Index"),
    }
    return labels.get(stage, stage)


def catalog_ingest(
    *,
    catalog_id: int,
    progress: Progress | None = None,
    resume: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Ingest one catalog end to end (see the module docstring); returns the summary saved on it.

    `progress(pages_done, pages_total, stage)` is called whenever either changes. `resume`: keep the pages a
    previous run of the same file finished (its checkpoint) and go on from there; a catalog still marked
    processing or stalled (its worker died and the task came back) is always resumed. `clock`: seconds, for
    AI_CATALOG_MAX_SECONDS and the summary's times."""
    catalog = Catalog.objects.filter(pk=catalog_id).first()
    if catalog is None:
        logger.info("Catalog %s no longer exists; nothing to ingest", catalog_id)
        return {"error": "not found"}
    with _ingest_lock(catalog_id) as acquired:
        if not acquired:
            logger.info("Catalog %s is already being ingested elsewhere", catalog_id)
            return {"skipped": "already being ingested"}
        catalog.refresh_from_db()
        resume = resume or catalog.status in (CatalogStatus.PROCESSING, CatalogStatus.STALLED)
        return _Ingestion(catalog=catalog, progress=progress, clock=clock, resume=resume).run()
