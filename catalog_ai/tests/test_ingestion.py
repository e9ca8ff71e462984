"""Catalog ingestion end to end on generated PDFs: upload checks, text cascade, real Tesseract OCR, page images,
chunks and SKUs, summary, progress, re-ingest/replace/delete, the Celery task, the command and the admin."""

from __future__ import annotations

import io
import os
import sys
import types
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation
from PIL import Image

from accounts.models import User
from catalog_ai import ocr
from catalog_ai.ingestion import (
    CatalogRejected,
    catalog_create_from_upload,
    catalog_delete,
    catalog_ingest,
    catalog_replace_file,
    catalog_set_active,
    page_image_dir,
)
from catalog_ai.models import Catalog, CatalogChunk, CatalogPage, CatalogStatus
from catalog_ai.tasks import catalog_ingest_task
from catalog_ai.tests import pdfs

pytestmark = pytest.mark.django_db

CATALOG_CHUNKS = 5  # pdfs.catalog_pdf(): one chunk per product


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _fast_ocr(settings: Any) -> None:
    settings.AI_OCR_DPI = 150  # enough for 40 px text at 200 dpi; ~1 s per page
    settings.AI_OCR_EASYOCR_DOWNLOAD_ENABLED = False


@pytest.fixture(autouse=True)
def index_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A stand-in catalog_ai.index whose index_rebuild() records calls (the real one belongs to another module)."""
    calls: list[str] = []
    stand_in = types.ModuleType("catalog_ai.index")

    def index_rebuild(progress: Any = None) -> dict[str, Any]:
        calls.append("rebuild")
        if progress is not None:
            progress(0, 2)
            progress(2, 2)
        return {"chunks": 2, "catalogs": 1, "embedder": "stand-in", "seconds": 0.01, "version": "v1", "x": object()}

    stand_in.index_rebuild = index_rebuild  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "catalog_ai.index", stand_in)
    return calls


def plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def upload(data: bytes, filename: str = "catalogo.pdf", name: str = "Catálogo") -> tuple[Catalog, bool]:
    return catalog_create_from_upload(name=name, file=SimpleUploadedFile(filename, data), filename=filename)


def ingested(data: bytes, **kwargs: Any) -> tuple[Catalog, dict[str, Any]]:
    catalog, created = upload(data)
    assert created
    summary = catalog_ingest(catalog_id=catalog.pk, **kwargs)
    catalog.refresh_from_db()
    return catalog, summary


# --- text pages -----------------------------------------------------------------------------------------


def test_text_catalog(settings: Any, index_calls: list[str]) -> None:
    calls: list[tuple[int, int, str]] = []
    seen_in_db: list[int] = []

    def progress(done: int, total: int, stage: str) -> None:
        calls.append((done, total, stage))
        seen_in_db.append(Catalog.objects.get(pk=catalog_id).pages_done)

    catalog, created = upload(pdfs.catalog_pdf())
    catalog_id = catalog.pk
    assert created and catalog.status == CatalogStatus.PENDING
    assert catalog.file.name.startswith("catalogs/") and catalog.file.name.endswith(".pdf")
    summary = catalog_ingest(catalog_id=catalog.pk, progress=progress)
    catalog.refresh_from_db()

    assert catalog.status == CatalogStatus.READY, catalog.error
    assert (catalog.pages_total, catalog.pages_done, catalog.stage, catalog.error) == (2, 2, "", "")
    assert catalog.summary == summary
    assert {k: summary[k] for k in ("pages", "ocr_pages", "no_text_pages", "skus", "backends", "index")} == {
        "pages": 2,
        "ocr_pages": 0,
        "no_text_pages": 0,
        "skus": 5,
        "backends": {"pypdf": 2},
        "index": "rebuilt",
    }
    assert summary["chunks"] == CatalogChunk.objects.filter(catalog=catalog).count() == CATALOG_CHUNKS
    assert summary["sku_examples"] == pdfs.CATALOG_SKUS
    assert isinstance(summary["seconds"], float) and isinstance(summary["index_seconds"], float)
    assert summary["index_info"] == {  # what index_rebuild() reported, JSON values only
        "chunks": 2,
        "catalogs": 1,
        "embedder": "stand-in",
        "seconds": 0.01,
        "version": "v1",
    }
    assert index_calls == ["rebuild"]

    # progress: pages only go up, every step is reported, the database shows what the callback shows
    dones = [done for done, _total, _stage in calls]
    assert dones == sorted(dones) and dones[-1] == 2
    assert {total for _d, total, _s in calls} == {2}
    steps = [s for _d, _t, s in calls if s in ("text", "images", "chunks", "index")]
    assert list(dict.fromkeys(steps))[-2:] == ["chunks", "index"] and steps[-1] == "index"
    # the index stage reports the embedding too (the stand-in embeds 2 texts): stage "index" again each time
    assert [s for _d, _t, s in calls][-4:] == ["index", "index", "index", ""]  # entering it, 0/2, 2/2; the end
    assert {"text", "images"} <= {s for _d, _t, s in calls}
    assert seen_in_db == dones

    pages = list(CatalogPage.objects.filter(catalog=catalog))
    assert [(p.number, p.backend, p.needs_ocr, p.no_text) for p in pages] == [
        (1, "pypdf", False, False),
        (2, "pypdf", False, False),
    ]
    assert pages[0].text.split("\n") == pdfs.CATALOG_PAGES[0]  # accents and the em dash survive

    for page in pages:
        assert page.image == f"public/catalogs/pages/{catalog.sha256}/page_{page.number:04d}.jpg"
        path = Path(settings.MEDIA_ROOT) / page.image
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.size == (round(595 * 2.0), round(842 * 2.0))  # AI_PAGE_IMAGE_SCALE = 2

    chunks = list(CatalogChunk.objects.filter(catalog=catalog).select_related("page"))
    # One chunk per product (catalog_ai.chunking): three on page 1, two on page 2.
    assert [(c.page.number, c.position, c.backend) for c in chunks] == [
        (1, 0, "pypdf"),
        (1, 1, "pypdf"),
        (1, 2, "pypdf"),
        (2, 0, "pypdf"),
        (2, 1, "pypdf"),
    ]
    assert [c.skus for c in chunks] == [["GR-NEG-200"], ["GR-BL-180"], ["12345"], ["MS-001"], ["CZ-BL-01"]]


def test_small_chunks_keep_each_product_together(settings: Any) -> None:
    settings.AI_CHUNK_MAX_CHARS = 160
    settings.AI_CHUNK_OVERLAP = 60
    catalog, _summary = ingested(pdfs.catalog_pdf())
    chunks = {tuple(c.skus): c for c in CatalogChunk.objects.filter(catalog=catalog)}
    assert set(chunks) == {("GR-NEG-200",), ("GR-BL-180",), ("12345",), ("MS-001",), ("CZ-BL-01",)}
    sink = chunks[("MS-001",)]
    assert "Lavaplatos de sobreponer" in sink.text and "$389.900" in sink.text and "CZ-BL-01" not in sink.text
    tap = chunks[("CZ-BL-01",)]
    assert tap.text.startswith("Grifería monocontrol") and "$215.000" in tap.text
    assert all(len(c.text) <= 160 for c in chunks.values())


def test_custom_sku_pattern_and_png_images(settings: Any) -> None:
    settings.AI_SKU_PATTERN = r"(?i)\bCód\. (?P<sku>[A-Z]{2}-\d{3})"
    settings.AI_PAGE_IMAGE_FORMAT = "PNG"
    settings.AI_PAGE_IMAGE_SCALE = 0.5
    catalog, summary = ingested(pdfs.catalog_pdf())
    assert summary["skus"] == 1 and summary["sku_examples"] == ["MS-001"]
    image = page_image_dir(catalog.sha256) / "page_0002.png"
    with Image.open(image) as opened:
        assert opened.format == "PNG" and opened.size == (round(595 * 0.5), round(842 * 0.5))


# --- OCR ------------------------------------------------------------------------------------------------


def test_scanned_page_goes_through_tesseract() -> None:
    catalog, summary = ingested(pdfs.mixed_pdf())
    assert catalog.status == CatalogStatus.READY, catalog.error
    assert (summary["pages"], summary["ocr_pages"], summary["no_text_pages"]) == (3, 1, 0)
    assert summary["backends"] == {"pypdf": 2, "tesseract": 1}
    assert summary["ocr_engines"] == ["tesseract"]

    scanned = CatalogPage.objects.get(catalog=catalog, number=3)
    assert (scanned.backend, scanned.needs_ocr, scanned.no_text) == ("tesseract", True, False)
    for word in pdfs.SCANNED_WORDS:
        assert word in plain(scanned.text), (word, scanned.text)
    chunk = CatalogChunk.objects.get(catalog=catalog, page=scanned)
    assert chunk.backend == "tesseract" and chunk.skus == ["CA-EXT-90"]
    assert (page_image_dir(catalog.sha256) / "page_0003.jpg").is_file()


def test_a_scanned_table_is_read_row_by_row() -> None:
    """Each product keeps its reference and price on its line (Tesseract alone reads the three columns one after
    the other), and the chunks keep each row whole."""
    catalog, _summary = ingested(pdfs.scanned_pdf([pdfs.SCANNED_TABLE], font_px=34))
    assert catalog.status == CatalogStatus.READY, catalog.error
    text = CatalogPage.objects.get(catalog=catalog, number=1).text
    for row in [
        "Tanque de agua 500 litros · TQ-500 · $399.000",
        "Tanque de agua 1.000 litros · TQ-1000 · $559.000",
        "Bomba periférica 1/2 HP · BO-B12 · $269.900",
    ]:
        assert row in text, text
        assert any(row in chunk.text for chunk in CatalogChunk.objects.filter(catalog=catalog)), row


def test_ocr_disabled_marks_the_page_and_says_so(settings: Any) -> None:
    settings.AI_OCR_ENABLED = False
    catalog, summary = ingested(pdfs.mixed_pdf())
    assert catalog.status == CatalogStatus.READY
    assert (summary["ocr_pages"], summary["no_text_pages"], summary["no_text_page_numbers"]) == (0, 1, [3])
    assert summary["backends"] == {"none": 1, "pypdf": 2}
    assert summary["notes"] == ["1 page has no text (3): OCR is disabled (AI_OCR_ENABLED=false)."]
    page = CatalogPage.objects.get(catalog=catalog, number=3)
    assert (page.text, page.backend, page.needs_ocr, page.no_text) == ("", "", True, True)
    assert page.image.endswith("page_0003.jpg")  # the picture is still there to send
    assert not CatalogChunk.objects.filter(page=page).exists()


def test_only_scanned_pages_and_no_ocr_engine_fails_clearly(settings: Any) -> None:
    settings.AI_OCR_TESSERACT_ENABLED = False  # EasyOCR is not installed either
    catalog, summary = ingested(pdfs.scanned_pdf([pdfs.SCANNED_LINES]))
    assert catalog.status == CatalogStatus.FAILED
    assert catalog.error.startswith("There is no text in this PDF to search: ")
    assert "AI_OCR_TESSERACT_ENABLED=false" in catalog.error and "EasyOCR is not installed" in catalog.error
    assert summary["no_text_pages"] == 1 and summary["chunks"] == 0
    assert CatalogPage.objects.get(catalog=catalog).no_text


def test_ocr_engines_and_languages(settings: Any) -> None:
    assert ocr.ocr_available() == ["tesseract"]  # EasyOCR is not installed: left out, no error
    settings.AI_OCR_LANG = "xyz"
    assert ocr.ocr_available() == []
    assert "none of the languages 'xyz'" in ocr.ocr_unavailable_reason()
    settings.AI_OCR_LANG = "spa+xyz"  # the missing language is left out
    assert ocr.ocr_available() == ["tesseract"]
    image = Image.new("L", (900, 120), 255)
    from PIL import ImageDraw, ImageFont

    ImageDraw.Draw(image).text((20, 30), "Mesón de mármol", font=ImageFont.truetype(pdfs.FONT_PATH, 48), fill=0)
    text, backend = ocr.ocr_page_image(image)
    assert backend == "tesseract" and plain(text).strip() == "meson de marmol"
    settings.AI_OCR_ENABLED = False
    assert ocr.ocr_page_image(image) == ("", "")
    assert ocr.ocr_unavailable_reason() == "OCR is disabled (AI_OCR_ENABLED=false)"


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_catalog_ocr_runs_at_idle_priority(tesseract_policies: Any) -> None:
    """A scanned catalog's OCR yields the CPU to the pipeline (SCHED_IDLE); the ingesting thread does not."""
    from PIL import ImageDraw, ImageFont

    image = Image.new("L", (900, 120), 255)
    ImageDraw.Draw(image).text((20, 30), "Mesón de mármol", font=ImageFont.truetype(pdfs.FONT_PATH, 48), fill=0)
    text, backend = ocr.ocr_page_image(image)
    assert backend == "tesseract" and plain(text).strip() == "meson de marmol"
    reads = tesseract_policies()
    assert reads and all(policy == os.SCHED_IDLE for policy in reads)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


# --- upload checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: pdfs.truncated_pdf(pdfs.catalog_pdf()), "The PDF is damaged or incomplete"),
        (lambda: pdfs.encrypted_pdf(pdfs.catalog_pdf()), "The PDF is protected with a password"),
        (pdfs.png_bytes, "This is not a PDF: the file is a PNG image."),
        (lambda: b"hola, esto no es un PDF", "This is not a PDF file. Export"),
        (lambda: b"", "The file is empty."),
    ],
    ids=["truncated", "encrypted", "png", "text", "empty"],
)
def test_bad_uploads_are_rejected_before_storing(settings: Any, make: Any, reason: str) -> None:
    with pytest.raises(CatalogRejected) as excinfo:
        upload(make())
    assert excinfo.value.reason.startswith(reason)
    assert not Catalog.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "catalogs").exists()


def test_too_large_upload_is_rejected(settings: Any) -> None:
    settings.AI_CATALOG_MAX_BYTES = 1000
    with pytest.raises(CatalogRejected, match="too large"):
        upload(pdfs.catalog_pdf())


def test_pdf_with_only_an_owner_password_is_accepted() -> None:
    catalog, summary = ingested(pdfs.encrypted_pdf(pdfs.catalog_pdf(), user_password=""))
    assert catalog.status == CatalogStatus.READY and summary["skus"] == 5


def test_same_file_again_changes_nothing(settings: Any) -> None:
    catalog, _summary = ingested(pdfs.catalog_pdf())
    before = (catalog.updated_at, list(CatalogChunk.objects.values_list("pk", flat=True)))
    files = sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())

    again, created = upload(pdfs.catalog_pdf(), filename="otro-nombre.pdf", name="Otro")
    assert (again.pk, created) == (catalog.pk, False)
    catalog.refresh_from_db()
    assert (catalog.name, catalog.updated_at, list(CatalogChunk.objects.values_list("pk", flat=True))) == (
        "Catálogo",
        *before,
    )
    assert sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()) == files
    assert Catalog.objects.count() == 1


def test_several_catalogs_reingest_replaces_rows_and_stale_images(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first, _ = ingested(pdfs.catalog_pdf())
    second, _ = ingested(pdfs.text_pdf([["Silla roble REF: SR-1 $100"]]))
    assert Catalog.objects.filter(active=True, status=CatalogStatus.READY).count() == 2
    old_ids = set(CatalogPage.objects.filter(catalog=first).values_list("pk", flat=True))

    settings.AI_PAGE_IMAGE_FORMAT = "WEBP"
    with django_capture_on_commit_callbacks(execute=True):
        summary = catalog_ingest(catalog_id=first.pk)
    assert summary["pages"] == 2 and summary["chunks"] == CATALOG_CHUNKS
    pages = CatalogPage.objects.filter(catalog=first)
    assert old_ids.isdisjoint(pages.values_list("pk", flat=True))
    assert sorted(p.name for p in page_image_dir(first.sha256).iterdir()) == ["page_0001.webp", "page_0002.webp"]
    assert CatalogChunk.objects.filter(catalog=second).count() == 1  # the other catalog is untouched


# --- replace, activate, delete ----------------------------------------------------------------------------


def test_replace_file_then_reingest(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    catalog, _ = ingested(pdfs.catalog_pdf())
    old_file, old_dir = Path(catalog.file.path), page_image_dir(catalog.sha256)
    new_pdf = pdfs.text_pdf([["Silla roble REF: SR-1 $100"]])

    assert not catalog_replace_file(catalog=catalog, file=io.BytesIO(pdfs.catalog_pdf()), filename="same.pdf")
    with pytest.raises(CatalogRejected, match="password"):
        catalog_replace_file(catalog=catalog, file=io.BytesIO(pdfs.encrypted_pdf(new_pdf)), filename="x.pdf")
    with django_capture_on_commit_callbacks(execute=True):
        assert catalog_replace_file(catalog=catalog, file=io.BytesIO(new_pdf), filename="nuevo.pdf")
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.PENDING and not old_file.exists()
    assert CatalogChunk.objects.filter(catalog=catalog).count() == CATALOG_CHUNKS  # searchable until re-ingested

    with django_capture_on_commit_callbacks(execute=True):
        summary = catalog_ingest(catalog_id=catalog.pk)
    assert summary["sku_examples"] == ["SR-1"]
    assert list(CatalogChunk.objects.filter(catalog=catalog).values_list("skus", flat=True)) == [["SR-1"]]
    assert not old_dir.exists()  # the old version's page images are gone
    assert (page_image_dir(catalog.sha256) / "page_0001.jpg").is_file()


def test_activate_deactivate_rebuilds_the_index(
    index_calls: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    catalog, _ = ingested(pdfs.catalog_pdf())
    index_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert catalog_set_active(catalogs=Catalog.objects.all(), active=True) == 0  # nothing changed
    assert index_calls == []
    with django_capture_on_commit_callbacks(execute=True):
        assert catalog_set_active(catalogs=[catalog], active=False) == 1
    assert index_calls == ["rebuild"] and not Catalog.objects.get().active


def test_delete_removes_rows_files_and_images(
    settings: Any, index_calls: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    catalog, _ = ingested(pdfs.catalog_pdf())
    pdf_path, image_dir = Path(catalog.file.path), page_image_dir(catalog.sha256)
    assert pdf_path.is_file() and image_dir.is_dir()
    index_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        catalog_delete(catalog=catalog)
    assert not Catalog.objects.exists() and not CatalogPage.objects.exists() and not CatalogChunk.objects.exists()
    assert not pdf_path.exists() and not image_dir.exists()
    assert index_calls == ["rebuild"]


def test_index_module_missing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "catalog_ai.index", None)  # import raises ImportError
    catalog, summary = ingested(pdfs.catalog_pdf())
    assert catalog.status == CatalogStatus.READY
    assert summary["index"] == "not available" and "index: not available" in summary["notes"]
    assert "index_info" not in summary


# --- failures -------------------------------------------------------------------------------------------


def test_failures_are_clear_and_not_tracebacks(settings: Any) -> None:
    catalog, _ = upload(pdfs.catalog_pdf())
    Path(catalog.file.path).unlink()
    summary = catalog_ingest(catalog_id=catalog.pk)
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.FAILED
    assert catalog.error.startswith("The PDF file is missing from the server (catalogs/")
    assert summary["error"] == catalog.error and "Traceback" not in catalog.error

    other, _ = upload(pdfs.text_pdf([["Otro REF: X-1"]]))
    settings.AI_PAGE_IMAGE_FORMAT = "NOPE"
    catalog_ingest(catalog_id=other.pk)
    other.refresh_from_db()
    assert other.status == CatalogStatus.FAILED and other.error.startswith("AI_PAGE_IMAGE_FORMAT=NOPE is not")


def test_unexpected_errors_name_the_step_and_page(index_calls: list[str]) -> None:
    catalog, _ = upload(pdfs.catalog_pdf())
    with mock.patch("catalog_ai.ingestion._save_image", side_effect=OSError(28, "No space left on device")):
        summary = catalog_ingest(catalog_id=catalog.pk)
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.FAILED
    assert catalog.error == (
        "Unexpected error at the “Page images” step, page 1 of 2: OSError: [Errno 28] No space left on device"
    )
    assert summary["failed_stage"] == "images" and summary["pages_done"] == 0
    assert index_calls == []


def test_catalog_deleted_while_ingesting() -> None:
    catalog, _ = upload(pdfs.catalog_pdf())

    def delete_on_first_page(done: int, total: int, stage: str) -> None:
        if done == 1:
            Catalog.objects.filter(pk=catalog.pk).delete()

    assert catalog_ingest(catalog_id=catalog.pk, progress=delete_on_first_page) == {"error": "deleted"}
    assert not page_image_dir(catalog.sha256).exists()
    assert catalog_ingest(catalog_id=catalog.pk) == {"error": "not found"}


# --- task, command --------------------------------------------------------------------------------------


def test_celery_task_and_enqueue(django_capture_on_commit_callbacks: Any) -> None:
    from catalog_ai.tasks import catalog_ingest_enqueue

    assert catalog_ingest_task.name == "catalog_ai.tasks.catalog_ingest_task"
    assert catalog_ingest_task.acks_late
    catalog, _ = upload(pdfs.catalog_pdf())
    with mock.patch.object(catalog_ingest_task, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            catalog_ingest_enqueue(catalog)
        delay.assert_not_called()  # only after the commit
        callbacks[0]()
    delay.assert_called_once_with(catalog.pk)
    assert catalog_ingest_task(catalog.pk)["chunks"] == CATALOG_CHUNKS


def test_command_wait_shows_progress_and_summary(tmp_path: Path) -> None:
    path = tmp_path / "catalogo-mesones.pdf"
    path.write_bytes(pdfs.catalog_pdf())
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest_catalog", str(path), "--wait", "--name", "Mesones", stdout=out, stderr=err)
    catalog = Catalog.objects.get()
    assert catalog.name == "Mesones" and catalog.status == CatalogStatus.READY
    text = out.getvalue()
    assert f"Catalog #{catalog.pk} “Mesones” is ready." in text
    assert "Pages: 2 (OCR: 0, without text: 0)" in text and f"Chunks: {CATALOG_CHUNKS}" in text
    assert "SKUs: 5 (e.g. GR-NEG-200, GR-BL-180, 12345, MS-001, CZ-BL-01)" in text and "Text: pypdf 2" in text
    assert "Index: rebuilt (" in text
    assert "2/2" in err.getvalue()  # tqdm's bar

    out = io.StringIO()
    call_command("ingest_catalog", str(path), "--wait", stdout=out, stderr=io.StringIO())
    assert "already has this file (same SHA-256); nothing changed" in out.getvalue()
    assert Catalog.objects.count() == 1


def test_command_queues_without_wait(tmp_path: Path, django_capture_on_commit_callbacks: Any) -> None:
    path = tmp_path / "c.pdf"
    path.write_bytes(pdfs.catalog_pdf())
    out = io.StringIO()
    with mock.patch.object(catalog_ingest_task, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        call_command("ingest_catalog", str(path), stdout=out)
    catalog = Catalog.objects.get()
    delay.assert_called_once_with(catalog.pk)
    assert "Ingestion queued" in out.getvalue() and f"/admin/catalog_ai/catalog/{catalog.pk}/change/" in out.getvalue()


def test_command_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "foto.pdf"
    path.write_bytes(pdfs.png_bytes())
    with pytest.raises(CommandError, match=r"foto\.pdf: This is not a PDF: the file is a PNG image"):
        call_command("ingest_catalog", str(path), stdout=io.StringIO())
    with pytest.raises(CommandError, match="no such file"):
        call_command("ingest_catalog", str(tmp_path / "missing.pdf"), stdout=io.StringIO())
    assert not Catalog.objects.exists()


# --- admin ----------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client: Client, settings: Any) -> Client:
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_admin_upload_creates_and_enqueues(admin_client: Client, django_capture_on_commit_callbacks: Any) -> None:
    add_url = reverse("admin:catalog_ai_catalog_add")
    page = admin_client.get(add_url)
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.content
    assert b'name="pdf"' in page.content and b'accept=".pdf,application/pdf"' in page.content

    with mock.patch.object(catalog_ingest_task, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            add_url, {"name": "", "pdf": SimpleUploadedFile("Mesones 2024.pdf", pdfs.catalog_pdf())}
        )
    assert response.status_code == 302, response.content.decode()[-2000:]
    catalog = Catalog.objects.get()
    assert catalog.name == "Mesones 2024" and catalog.status == CatalogStatus.PENDING
    delay.assert_called_once_with(catalog.pk)

    # the same file again: a form error, nothing changes
    response = admin_client.post(add_url, {"name": "x", "pdf": SimpleUploadedFile("x.pdf", pdfs.catalog_pdf())})
    assert response.status_code == 200
    assert "already loaded as the catalog “Mesones 2024” (same content); nothing changed." in response.content.decode()
    assert Catalog.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (lambda: pdfs.encrypted_pdf(pdfs.catalog_pdf()), "The PDF is protected with a password."),
        (lambda: pdfs.truncated_pdf(pdfs.catalog_pdf()), "The PDF is damaged or incomplete"),
        (pdfs.png_bytes, "This is not a PDF: the file is a PNG image."),
    ],
    ids=["encrypted", "truncated", "png"],
)
def test_admin_upload_shows_the_reason(admin_client: Client, data: Any, reason: str) -> None:
    response = admin_client.post(
        reverse("admin:catalog_ai_catalog_add"), {"name": "Malo", "pdf": SimpleUploadedFile("malo.pdf", data())}
    )
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert not Catalog.objects.exists()


def test_admin_list_shows_progress_and_refreshes_only_while_processing(admin_client: Client) -> None:
    catalog, _ = ingested(pdfs.catalog_pdf())
    url = reverse("admin:catalog_ai_catalog_changelist")
    html = admin_client.get(url).content.decode()
    assert '<progress value="2" max="2"' in html and "2/2 pages" in html
    assert "catalog-status-ready" in html and f"{CATALOG_CHUNKS} chunks · 5 SKUs · 0 OCR pages" in html
    assert 'http-equiv="refresh"' not in html

    Catalog.objects.filter(pk=catalog.pk).update(status=CatalogStatus.PROCESSING, pages_done=1, stage="ocr")
    html = admin_client.get(url).content.decode()
    assert '<progress value="1" max="2"' in html and "1/2 pages · OCR" in html
    assert '<meta http-equiv="refresh" content="3">' in html and "catalog-status-processing" in html

    # Ready (so the rebuild includes it) but still embedding its new chunks: the stage and the figures show,
    # and the list keeps refreshing until the index is published.
    Catalog.objects.filter(pk=catalog.pk).update(
        status=CatalogStatus.READY, pages_done=2, stage="index", summary={"embedding": {"done": 256, "total": 700}}
    )
    html = admin_client.get(url).content.decode()
    assert '<progress value="256" max="700" title="2/2 pages · Index: 256/700 new chunks embedded">' in html
    assert "2/2 pages · Index<br><small" in html and ">256/700 new chunks embedded</small>" in html
    assert "catalog-status-ready" in html
    assert '<meta http-equiv="refresh" content="3">' in html


def test_admin_change_page_summary_and_actions(
    admin_client: Client, index_calls: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    catalog, _ = ingested(pdfs.mixed_pdf())
    html = admin_client.get(reverse("admin:catalog_ai_catalog_change", args=[catalog.pk])).content.decode()
    assert '<table class="catalog-summary">' in html
    assert "<th>Pages read with OCR</th><td>1</td>" in html
    assert "<th>Text extraction</th><td>pypdf: 2, tesseract: 1</td>" in html
    assert f"3 pages, {CatalogChunk.objects.filter(catalog=catalog).count()} chunks" in html
    assert 'name="replace_pdf"' in html

    changelist = reverse("admin:catalog_ai_catalog_changelist")
    index_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist, {"action": "deactivate", "_selected_action": [catalog.pk]})
    assert not Catalog.objects.get().active and index_calls == ["rebuild"]

    with mock.patch.object(catalog_ingest_task, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist, {"action": "reingest", "_selected_action": [catalog.pk]})
    delay.assert_called_once_with(catalog.pk)
    assert Catalog.objects.get().status == CatalogStatus.PENDING

    image_dir = page_image_dir(catalog.sha256)
    index_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            changelist, {"action": "delete_selected", "_selected_action": [catalog.pk], "post": "yes"}
        )
    assert response.status_code == 302
    assert not Catalog.objects.exists() and not image_dir.exists() and index_calls == ["rebuild"]


def test_upload_form_for_other_pages() -> None:
    from catalog_ai.forms import CatalogUploadForm

    form = CatalogUploadForm(data={"name": ""}, files={"pdf": SimpleUploadedFile("Lista.pdf", pdfs.catalog_pdf())})
    assert form.is_valid(), form.errors
    assert form.created and form.catalog is not None and form.catalog.name == "Lista"

    again = CatalogUploadForm(data={"name": "x"}, files={"pdf": SimpleUploadedFile("x.pdf", pdfs.catalog_pdf())})
    assert not again.is_valid() and "already loaded" in again.errors["pdf"][0]
    bad = CatalogUploadForm(data={"name": "x"}, files={"pdf": SimpleUploadedFile("x.pdf", pdfs.png_bytes())})
    assert not bad.is_valid() and bad.errors["pdf"] == [
        "This is not a PDF: the file is a PNG image. Export the catalog as PDF and upload that."
    ]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_ingests_the_queued_catalog(celery_live_worker: Any) -> None:
    from catalog_ai.tasks import catalog_ingest_enqueue
    from conftest import wait_for

    catalog, _ = upload(pdfs.catalog_pdf())
    catalog_ingest_enqueue(catalog)  # autocommit: queued right away

    def finished() -> bool:
        catalog.refresh_from_db()
        # Ready is saved before the index rebuild (so the index includes the catalog); the run is
        # over once its stage is cleared with the summary.
        return catalog.status == CatalogStatus.FAILED or (catalog.status == CatalogStatus.READY and not catalog.stage)

    wait_for(finished, timeout=30, interval=0.1)
    assert catalog.status == CatalogStatus.READY, catalog.error
    assert catalog.summary["chunks"] == CATALOG_CHUNKS and catalog.pages_done == 2


def test_admin_replace_pdf_on_the_change_page(admin_client: Client, django_capture_on_commit_callbacks: Any) -> None:
    catalog, _ = ingested(pdfs.catalog_pdf())
    url = reverse("admin:catalog_ai_catalog_change", args=[catalog.pk])
    new_pdf = pdfs.text_pdf([["Silla roble REF: SR-1 $100"]])

    Catalog.objects.filter(pk=catalog.pk).update(status=CatalogStatus.PROCESSING)
    response = admin_client.post(
        url, {"name": "Nuevo", "active": "on", "replace_pdf": SimpleUploadedFile("n.pdf", new_pdf)}
    )
    assert "The catalog is being processed; replace its file when it finishes." in response.content.decode()

    Catalog.objects.filter(pk=catalog.pk).update(status=CatalogStatus.READY)
    with (
        mock.patch.object(catalog_ingest_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin_client.post(
            url, {"name": "Nuevo", "active": "on", "replace_pdf": SimpleUploadedFile("n.pdf", new_pdf)}
        )
    assert response.status_code == 302
    catalog.refresh_from_db()
    assert (catalog.name, catalog.status, catalog.file.name.endswith("/n.pdf")) == ("Nuevo", "pending", True)
    delay.assert_called_once_with(catalog.pk)
