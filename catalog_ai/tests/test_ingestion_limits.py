"""Catalog ingestion limits (pages, pixels per page, time) and ingestions whose worker died (stalled: detected by
the heartbeat, resumed or reset from the admin). Generated PDFs; low limits set through the `settings` fixture;
time through an injected clock, never by waiting."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from catalog_ai.ingestion import (
    CatalogRejected,
    capped_scale,
    catalog_ingest,
    catalog_is_stalled,
    catalog_reset,
    catalog_stall_sweep,
)
from catalog_ai.models import Catalog, CatalogPage, CatalogStatus
from catalog_ai.tasks import catalog_ingest_task
from catalog_ai.tests import pdfs
from catalog_ai.tests.test_ingestion import _english, _fast_ocr, index_calls, upload  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

PAGES = [[f"Página {n}: Mesón granito modelo {n} REF: GR-{n:03d} precio $1.{n:03d}.000"] for n in range(1, 6)]


def ticking(step: float) -> Callable[[], float]:
    """A clock that moves `step` seconds every time it is read."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


# --- pages ---------------------------------------------------------------------------------------------


def test_too_many_pages_is_refused_at_upload_naming_the_limit(settings: Any) -> None:
    settings.AI_CATALOG_MAX_PAGES = 3
    with pytest.raises(CatalogRejected) as refused:
        upload(pdfs.many_pages_pdf(4))
    assert refused.value.reason == (
        "The PDF has 4 pages; the limit is 3 pages (AI_CATALOG_MAX_PAGES). "
        "Split the catalog into smaller PDFs or raise the limit."
    )
    assert not Catalog.objects.exists()
    assert upload(pdfs.many_pages_pdf(3))[1]


def test_page_limit_is_checked_again_by_the_ingestion(settings: Any) -> None:
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    settings.AI_CATALOG_MAX_PAGES = 2  # lowered after the upload
    catalog_ingest(catalog_id=catalog.pk)
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.FAILED
    assert "The PDF has 5 pages; the limit is 2 pages (AI_CATALOG_MAX_PAGES)" in catalog.error
    assert catalog.pages_done == 0 and not CatalogPage.objects.exists()


# --- pixels per page -----------------------------------------------------------------------------------


def test_capped_scale() -> None:
    assert capped_scale(width=595, height=842, scale=2.0, max_pixels=10_000_000) == 2.0
    factor = capped_scale(width=14_400, height=14_400, scale=220 / 72, max_pixels=1_000_000)
    assert 0 < factor < 220 / 72
    side = -(-14_400 * factor // 1)
    assert side * side <= 1_000_000 and side > 990
    assert capped_scale(width=14_400, height=14_400, scale=3.0, max_pixels=0) == 3.0


def test_a_huge_page_is_rendered_scaled_down_to_the_pixel_limit(settings: Any) -> None:
    settings.AI_OCR_ENABLED = False
    settings.AI_PAGE_IMAGE_SCALE = 2.0
    settings.AI_CATALOG_MAX_PAGE_PIXELS = 3_000_000
    # 3,000 x 3,000 pt at scale 2: 36 million pixels asked for; a 618-byte 14,400 pt page would ask 829 million.
    data = pdfs.merge_pdfs(
        pdfs.text_pdf([["Mesón gigante REF: GIG-1 $9.999.000 instalado en obra"]]), pdfs.huge_page_pdf(3000)
    )
    catalog, _created = upload(data)
    summary = catalog_ingest(catalog_id=catalog.pk)
    catalog.refresh_from_db()
    pages = list(CatalogPage.objects.filter(catalog=catalog).order_by("number"))
    assert catalog.status == CatalogStatus.READY, catalog.error
    with Image.open(settings.MEDIA_ROOT / pages[1].image) as image:
        assert image.width * image.height <= 3_000_000 and image.width > 1700
    with Image.open(settings.MEDIA_ROOT / pages[0].image) as image:
        assert image.size == (1190, 1684)  # A4 at scale 2: under the limit, untouched
    assert summary["scaled_page_numbers"] == [2]
    assert (
        "1 page is larger than 3000000 pixels at the configured resolution and was read at a lower one "
        "(2; AI_CATALOG_MAX_PAGE_PIXELS)."
    ) in summary["notes"]


def test_the_ocr_render_of_a_huge_page_is_capped_too(settings: Any) -> None:
    settings.AI_CATALOG_MAX_PAGE_PIXELS = 2_000_000
    settings.AI_PAGE_IMAGE_SCALE = 0.5
    catalog, _created = upload(pdfs.huge_page_pdf(3000))  # blank: OCR at 150 dpi would be 39 million pixels
    summary = catalog_ingest(catalog_id=catalog.pk)
    assert summary["scaled_page_numbers"] == [1]
    assert "There is no text in this PDF" in summary["error"]


# --- time --------------------------------------------------------------------------------------------


def test_time_limit_stops_between_pages_and_says_which_limit(settings: Any) -> None:
    settings.AI_CATALOG_MAX_SECONDS = 10
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    summary = catalog_ingest(catalog_id=catalog.pk, clock=ticking(6.0))
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.FAILED
    assert catalog.error == (
        "The ingestion took longer than the limit of 10 seconds (AI_CATALOG_MAX_SECONDS): it stopped after "
        "page 1 of 5. Resume it to continue from there, split the catalog or raise the limit."
    )
    assert summary["pages_done"] == 1 and not CatalogPage.objects.exists()

    # Resumed (the admin's action) with a higher limit: page 1 is not read again.
    settings.AI_CATALOG_MAX_SECONDS = 0
    seen: list[int] = []
    summary = catalog_ingest(catalog_id=catalog.pk, resume=True, progress=lambda done, total, stage: seen.append(done))
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.READY, catalog.error
    assert seen[0] == 1 and summary["resumed_from_page"] == 2 and summary["pages"] == 5
    assert list(CatalogPage.objects.filter(catalog=catalog).values_list("number", flat=True)) == [1, 2, 3, 4, 5]


# --- a worker that died --------------------------------------------------------------------------------


def killed_mid_ingestion(catalog: Catalog, *, pages_done: int, redis_client: Any) -> Catalog:
    """What a worker killed (SIGKILL, out of memory) after `pages_done` pages leaves behind: the catalog
    processing with its last heartbeat, the Redis lock it held, and the checkpoint of the finished pages. The
    run is stopped by an exception from its progress callback at that point; then the row and the lock are set
    back to how a kill (which runs no handler) leaves them."""

    class Killed(Exception):
        pass

    def progress(done: int, total: int, stage: str) -> None:
        if done == pages_done and stage == "text" and done:  # page `pages_done + 1` starts
            raise Killed

    catalog_ingest(catalog_id=catalog.pk, progress=progress)
    catalog.refresh_from_db()
    assert catalog.pages_done == pages_done
    beat = timezone.now()
    Catalog.objects.filter(pk=catalog.pk).update(
        status=CatalogStatus.PROCESSING, stage="text", heartbeat_at=beat, error="", summary={}
    )
    redis_client.set(f"wia:lock:catalog_ingest:{catalog.pk}", b"dead-worker-token", px=900_000)
    catalog.refresh_from_db()
    return catalog


def test_a_dead_ingestion_is_detected_by_its_heartbeat(settings: Any, redis_client: Any) -> None:
    settings.AI_CATALOG_STALL_SECONDS = 300
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    catalog = killed_mid_ingestion(catalog, pages_done=2, redis_client=redis_client)
    beat = catalog.heartbeat_at
    assert not catalog_is_stalled(catalog=catalog, now=beat + timedelta(seconds=299))
    assert catalog_stall_sweep(now=beat + timedelta(seconds=299)) == []
    assert catalog_is_stalled(catalog=catalog, now=beat + timedelta(seconds=301))

    assert catalog_stall_sweep(now=beat + timedelta(seconds=301)) == [catalog.pk]
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.STALLED
    assert catalog.error.startswith(
        "The ingestion stopped at page 3 of 5 (Reading text): no sign of life for over 300 seconds "
        "(AI_CATALOG_STALL_SECONDS)"
    )
    assert catalog_stall_sweep(now=beat + timedelta(seconds=900)) == []  # once


def test_stalled_catalog_resumes_after_the_pages_done_despite_the_dead_workers_lock(
    settings: Any, redis_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    catalog = killed_mid_ingestion(catalog, pages_done=2, redis_client=redis_client)
    catalog_stall_sweep(now=catalog.heartbeat_at + timedelta(seconds=settings.AI_CATALOG_STALL_SECONDS + 1))
    catalog.refresh_from_db()

    # Pages 1-2 come from the checkpoint, not from the PDF: mark one to see it kept.
    checkpoint = Path(settings.AI_CATALOG_CHECKPOINT_DIR) / f"{catalog.sha256}.jsonl"
    assert Path(settings.MEDIA_ROOT) not in checkpoint.parents  # page images are public; the checkpoint is not
    lines = checkpoint.read_text().splitlines()
    page_one = json.loads(lines[1])
    page_one["text"] = "Texto guardado antes de la caída REF: KEEP-1"
    checkpoint.write_text("\n".join([lines[0], json.dumps(page_one), *lines[2:]]) + "\n")

    from catalog_ai.tasks import catalog_ingest_enqueue

    with mock.patch.object(catalog_ingest_task, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        catalog_ingest_enqueue(catalog, resume=True)
    delay.assert_called_once_with(catalog.pk, resume=True)
    summary = catalog_ingest_task(catalog.pk, resume=True)
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.READY, (catalog.error, summary)
    assert summary["resumed_from_page"] == 3 and summary["pages"] == 5
    texts = list(CatalogPage.objects.filter(catalog=catalog).order_by("number").values_list("text", flat=True))
    assert texts[0] == "Texto guardado antes de la caída REF: KEEP-1" and "GR-005" in texts[4]
    assert not checkpoint.exists()


def test_redelivered_task_of_a_killed_worker_resumes_once_its_lock_is_gone(redis_client: Any) -> None:
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    catalog = killed_mid_ingestion(catalog, pages_done=3, redis_client=redis_client)
    assert catalog_ingest_task(catalog.pk) == {"skipped": "already being ingested"}  # the lock still protects it
    redis_client.delete(f"wia:lock:catalog_ingest:{catalog.pk}")  # expired (its TTL is AI_CATALOG_STALL_SECONDS)
    summary = catalog_ingest_task(catalog.pk)
    assert summary["resumed_from_page"] == 4 and summary["pages"] == 5


def test_the_lock_lives_as_long_as_the_stall_limit(settings: Any, redis_client: Any) -> None:
    settings.AI_CATALOG_STALL_SECONDS = 120
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    ttls: list[int] = []
    catalog_ingest(
        catalog_id=catalog.pk,
        progress=lambda *a: ttls.append(redis_client.pttl(f"wia:lock:catalog_ingest:{catalog.pk}")),
    )
    assert ttls and all(0 < ttl <= 120_000 for ttl in ttls)


def test_a_run_declared_dead_and_taken_over_stops_without_writing(
    settings: Any, redis_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    states: list[str] = []

    def progress(done: int, total: int, stage: str) -> None:
        if done == 2 and not states:  # meanwhile an admin resets it as stalled (its lock is dropped)
            Catalog.objects.filter(pk=catalog.pk).update(
                heartbeat_at=timezone.now() - timedelta(seconds=settings.AI_CATALOG_STALL_SECONDS + 1)
            )
            states.append("reset" if catalog_reset(catalog=Catalog.objects.get(pk=catalog.pk)) else "refused")

    assert catalog_ingest(catalog_id=catalog.pk, progress=progress) == {"skipped": "superseded"}
    catalog.refresh_from_db()
    assert states == ["reset"] and catalog.status == CatalogStatus.FAILED
    assert catalog.error == "The interrupted ingestion was reset. Re-ingest the catalog or upload a new file."
    assert not CatalogPage.objects.exists()


# --- the admin -----------------------------------------------------------------------------------------


def test_admin_shows_stalled_and_offers_resume_reset_and_replace(
    admin_client: Client, settings: Any, redis_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    catalog = killed_mid_ingestion(catalog, pages_done=2, redis_client=redis_client)
    Catalog.objects.filter(pk=catalog.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.AI_CATALOG_STALL_SECONDS + 5)
    )
    changelist = reverse("admin:catalog_ai_catalog_changelist")
    html = admin_client.get(changelist).content.decode()
    assert "catalog-status-stalled" in html and "Reanúdelo o restablézcalo." in html  # Spanish by default
    assert 'value="resume"' in html and 'value="reset"' in html

    # Re-ingest is no longer refused as "being processed"; neither is a new file.
    change = reverse("admin:catalog_ai_catalog_change", args=[catalog.pk])
    new_pdf = pdfs.text_pdf([["Silla roble REF: SR-1 $100 entrega inmediata en tienda"]])
    with mock.patch.object(catalog_ingest_task, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            change,
            {"name": catalog.name, "active": "on", "replace_pdf": SimpleUploadedFile("nuevo.pdf", new_pdf)},
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    delay.assert_called_once_with(catalog.pk)
    assert redis_client.get(f"wia:lock:catalog_ingest:{catalog.pk}") is None  # the dead worker's lock is gone
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.PENDING


def test_admin_resume_and_reset_actions(
    admin_client: Client, settings: Any, redis_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    catalog, _created = upload(pdfs.text_pdf(PAGES))
    catalog = killed_mid_ingestion(catalog, pages_done=2, redis_client=redis_client)
    catalog_stall_sweep(now=timezone.now() + timedelta(seconds=settings.AI_CATALOG_STALL_SECONDS + 1))
    changelist = reverse("admin:catalog_ai_catalog_changelist")
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the messages below, in English

    with mock.patch.object(catalog_ingest_task, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist, {"action": "resume", "_selected_action": [catalog.pk]})
    delay.assert_called_once_with(catalog.pk, resume=True)
    assert redis_client.get(f"wia:lock:catalog_ingest:{catalog.pk}") is None

    Catalog.objects.filter(pk=catalog.pk).update(status=CatalogStatus.STALLED)
    redis_client.set(f"wia:lock:catalog_ingest:{catalog.pk}", b"dead-worker-token", px=900_000)
    admin_client.post(changelist, {"action": "reset", "_selected_action": [catalog.pk]})
    catalog.refresh_from_db()
    assert catalog.status == CatalogStatus.FAILED and catalog.pages_done == 0
    assert redis_client.get(f"wia:lock:catalog_ingest:{catalog.pk}") is None
    assert not (Path(settings.AI_CATALOG_CHECKPOINT_DIR) / f"{catalog.sha256}.jsonl").exists()

    ready, _created = upload(pdfs.catalog_pdf())
    catalog_ingest(catalog_id=ready.pk)
    response = admin_client.post(changelist, {"action": "reset", "_selected_action": [ready.pk]}, follow=True)
    assert "1 catalogs were not stalled or failed; they were left as they are." in response.content.decode()
    ready.refresh_from_db()
    assert ready.status == CatalogStatus.READY
