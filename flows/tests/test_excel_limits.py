"""Limits of the Excel rules import, checked before the workbook is parsed: file size, unpacked size, zip bombs,
rows and columns (also those openpyxl would pad in from a row number or a <dimension>)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.signals import post_save
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from flows.excel import WorkbookTooLarge, rules_import, workbook_check
from flows.imports import rule_import_progress, rule_imports_sweep
from flows.models import Rule, RuleImport, RuleImportStatus
from flows.tasks import rule_import_task
from flows.tests.test_excel import ENGLISH, _english, _upload, english_row, xlsx  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_en(client: Any) -> Any:
    user = User.objects.create_superuser(username="jefe", password="clave-segura-123", email="jefe@example.com")
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def rows(count: int) -> list[list[Any]]:
    return [english_row(step=f"paso{n}", response_text=f"Respuesta {n}") for n in range(count)]


def with_sheet(data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with its first sheet's XML changed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = change(body)
            target.writestr(info.filename, body, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


def zip_bomb() -> bytes:
    """A valid workbook whose sheet XML is padded with 40 MB of blanks: about 40 KB stored."""
    return with_sheet(
        xlsx(ENGLISH, rows(1)), lambda xml: xml.replace(b"<sheetData>", b" " * 40_000_000 + b"<sheetData>")
    )


def far_row(number: int) -> bytes:
    """One rule, then a lone empty row numbered `number` (the <dimension> says so too): openpyxl's reader yields
    every row in between (a 5 KB file read as a million rows took 8 s and 560 MB before the check)."""
    return with_sheet(
        xlsx(ENGLISH, rows(1)),
        lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:M%d"' % number, xml).replace(
            b"</sheetData>", b'<row r="%d"/></sheetData>' % number
        ),
    )


def wide_dimension() -> bytes:
    """One rule under a <dimension> claiming 16,384 columns: openpyxl pads every row to that width."""
    return with_sheet(
        xlsx(ENGLISH, rows(1)), lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD2"', xml)
    )


def test_a_zip_bomb_is_refused_before_parsing() -> None:
    data = zip_bomb()
    assert len(data) < 200_000
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        info = book.getinfo("xl/worksheets/sheet1.xml")
        ratio = int(info.file_size / info.compress_size)
    report = rules_import(file=data)
    assert [str(e) for e in report.errors] == [
        f"Part xl/worksheets/sheet1.xml of the workbook unpacks {ratio} times larger than it is stored; the limit "
        "is 100 (RULES_IMPORT_MAX_COMPRESSION_RATIO). The file looks made to exhaust the server; save the rules in "
        "a new workbook."
    ]
    assert Rule.objects.count() == 0


def test_the_unpacked_size_is_capped(settings: Any) -> None:
    data = xlsx(ENGLISH, rows(50))
    settings.RULES_IMPORT_MAX_UNCOMPRESSED_BYTES = 20_000
    with pytest.raises(WorkbookTooLarge) as refused:
        workbook_check(data)
    assert re.fullmatch(
        r"Unpacked, the workbook is \d+ KB; the limit is 20 KB \(RULES_IMPORT_MAX_UNCOMPRESSED_BYTES\)\. "
        r"Remove other sheets, images or formatting\.",
        str(refused.value),
    )
    settings.RULES_IMPORT_MAX_UNCOMPRESSED_BYTES = 0  # no limit
    assert workbook_check(data).rows == 51


def test_the_file_size_is_capped(settings: Any, tmp_path: Path) -> None:
    settings.RULES_IMPORT_MAX_FILE_BYTES = 1000
    path = tmp_path / "reglas.xlsx"
    path.write_bytes(xlsx(ENGLISH, rows(3)))
    report = rules_import(file=path)
    assert re.fullmatch(
        r"The file is \d KB; the limit is 1 KB \(RULES_IMPORT_MAX_FILE_BYTES\)\.", str(report.errors[0])
    )


def test_rows_over_the_limit_are_refused_and_at_the_limit_accepted(settings: Any) -> None:
    settings.RULES_IMPORT_MAX_ROWS = 5
    report = rules_import(file=xlsx(ENGLISH, rows(6)))
    assert [str(e) for e in report.errors] == [
        "The sheet has more than 5 rows below the header (row 7 is used); the limit is 5 (RULES_IMPORT_MAX_ROWS). "
        "Split the file or delete the empty rows at the end."
    ]
    assert Rule.objects.count() == 0
    assert rules_import(file=xlsx(ENGLISH, rows(5))).created == 5


def test_a_far_row_number_counts_as_the_rows_openpyxl_would_pad_in() -> None:
    data = far_row(200_000)
    assert len(data) < 20_000
    report = rules_import(file=data)
    assert [str(e) for e in report.errors] == [
        "The sheet has more than 10000 rows below the header (row 200000 is used); the limit is 10000 "
        "(RULES_IMPORT_MAX_ROWS). Split the file or delete the empty rows at the end."
    ]


def test_a_wide_dimension_is_refused() -> None:
    report = rules_import(file=wide_dimension())
    assert [str(e) for e in report.errors] == [
        "The sheet uses 16384 columns; the limit is 100 (RULES_IMPORT_MAX_COLUMNS). "
        "Delete the columns that are not rule columns."
    ]


def test_the_command_refuses_with_the_limit(tmp_path: Path, settings: Any) -> None:
    settings.RULES_IMPORT_MAX_ROWS = 2
    path = tmp_path / "reglas.xlsx"
    path.write_bytes(xlsx(ENGLISH, rows(3)))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 error; nothing was imported"):
        call_command("import_rules", str(path), stdout=io.StringIO(), stderr=err)
    assert "(RULES_IMPORT_MAX_ROWS)" in err.getvalue()


def test_the_admin_form_refuses_with_the_limit_and_parses_nothing(admin_client_en: Any) -> None:
    response = _upload(admin_client_en, zip_bomb())
    assert response.status_code == 200
    errors = response.context["form"].errors["import_file"]
    assert "(RULES_IMPORT_MAX_COMPRESSION_RATIO)" in errors[0]
    assert not response.context.get("result")
    assert Rule.objects.count() == 0


# --- large imports in the background -------------------------------------------------------------------


def _queue_and_run(client: Any, do: Callable[[], Any], capture: Any) -> tuple[Any, RuleImport]:
    """Do the request; check it queued the task after the commit; run the task as the worker would."""
    with mock.patch.object(rule_import_task, "delay") as delay, capture(execute=True):
        response = do()
    job = RuleImport.objects.latest("pk")
    delay.assert_called_once_with(job.pk)
    assert job.status == RuleImportStatus.QUEUED
    return response, job


def test_a_large_admin_import_runs_in_a_task_with_progress_then_confirm(
    admin_client_en: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RULES_IMPORT_BACKGROUND_ROWS = 10
    data = xlsx(ENGLISH, rows(12))
    response, check = _queue_and_run(
        admin_client_en, lambda: _upload(admin_client_en, data), django_capture_on_commit_callbacks
    )
    url = reverse("admin:flows_rule_import_job", args=[check.pk])
    assert response.status_code == 302 and response.url == url
    assert check.dry_run and bytes(check.data) == data and Rule.objects.count() == 0

    page = admin_client_en.get(url).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page and "Waiting for a worker" in page

    # While the task runs, the page shows how far it got (read at each row the import saves).
    seen: list[tuple[int, int]] = []
    pages: list[str] = []

    def watch(sender: Any, instance: Rule, **kwargs: Any) -> None:
        seen.append(rule_import_progress(job=RuleImport.objects.get(pk=check.pk)))
        if len(seen) == 6:
            pages.append(admin_client_en.get(url).content.decode())

    post_save.connect(watch, sender=Rule)
    try:
        assert rule_import_task(check.pk) == RuleImportStatus.DONE
    finally:
        post_save.disconnect(watch, sender=Rule)
    assert seen[0] == (0, 0) and seen[-1] == (11, 12) and seen == sorted(seen)
    assert '<progress value="5" max="12">' in pages[0] and "5 of 12 rows" in pages[0]
    assert Rule.objects.count() == 0  # a check writes nothing

    page = admin_client_en.get(url).content.decode()
    assert "refresh" not in page and "12 new, 0 updated, 0 unchanged." in page and "Confirm import" in page
    assert admin_client_en.get(url, {"format": "json"}).json()["rows_done"] == 12

    response, job = _queue_and_run(
        admin_client_en, lambda: admin_client_en.post(url), django_capture_on_commit_callbacks
    )
    assert response.url == reverse("admin:flows_rule_import_job", args=[job.pk])
    assert not job.dry_run and job.checked_id == check.pk
    assert rule_import_task(job.pk) == RuleImportStatus.DONE
    assert Rule.objects.count() == 12
    assert "The rules were saved." in admin_client_en.get(response.url).content.decode()


def test_a_large_import_with_errors_names_row_and_column_and_offers_no_confirm(
    admin_client_en: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RULES_IMPORT_BACKGROUND_ROWS = 10
    data = xlsx(ENGLISH, [*rows(11), english_row(step="malo", active="maybe")])
    _response, check = _queue_and_run(
        admin_client_en, lambda: _upload(admin_client_en, data), django_capture_on_commit_callbacks
    )
    rule_import_task(check.pk)
    url = reverse("admin:flows_rule_import_job", args=[check.pk])
    page = admin_client_en.get(url).content.decode()
    assert "row 13, column active: &#x27;maybe&#x27; is not yes or no" in page
    assert "Confirm import" not in page
    admin_client_en.post(url)  # nothing to confirm
    assert RuleImport.objects.count() == 1 and Rule.objects.count() == 0


def test_a_small_admin_import_stays_in_the_request(admin_client_en: Any, settings: Any) -> None:
    settings.RULES_IMPORT_BACKGROUND_ROWS = 10
    response = _upload(admin_client_en, xlsx(ENGLISH, rows(10)))
    assert response.status_code == 200 and response.context["result"].totals["new"] == 10
    assert not RuleImport.objects.exists()


def test_the_command_shows_a_progress_bar(tmp_path: Path) -> None:
    path = tmp_path / "reglas.xlsx"
    path.write_bytes(xlsx(ENGLISH, rows(30)))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_rules", str(path), stdout=out, stderr=err)
    assert "30 created, 0 updated, 0 unchanged." in out.getvalue()
    assert "30/30" in err.getvalue()
    assert Rule.objects.count() == 30


def test_background_imports_are_listed_read_only_in_the_admin(admin_client_en: Any) -> None:
    job = RuleImport.objects.create(file_name="reglas.xlsx", data=b"PK", status=RuleImportStatus.DONE)
    html = admin_client_en.get(reverse("admin:flows_ruleimport_changelist")).content.decode()
    assert "reglas.xlsx" in html
    page = admin_client_en.get(reverse("admin:flows_ruleimport_change", args=[job.pk])).content.decode()
    assert reverse("admin:flows_rule_import_job", args=[job.pk]) in page


# --- lost tasks ---------------------------------------------------------------------------------------


def _queued_import(rows_count: int = 3) -> RuleImport:
    return RuleImport.objects.create(file_name="reglas.xlsx", data=xlsx(ENGLISH, rows(rows_count)), dry_run=False)


def test_an_import_whose_task_was_lost_is_queued_again_and_runs(settings: Any) -> None:
    job = _queued_import()
    now = timezone.now()
    assert rule_imports_sweep(now=now) == []  # just queued: its task may still come
    assert rule_imports_sweep(now=now + timedelta(seconds=settings.SWEEP_INBOUND_AFTER + 1)) == [job.pk]
    assert rule_import_task(job.pk) == RuleImportStatus.DONE
    assert Rule.objects.count() == 3


def test_an_import_whose_worker_died_is_queued_again_once_past_the_time_limit(settings: Any) -> None:
    job = _queued_import()
    started = timezone.now() - timedelta(seconds=settings.SWEEP_INBOUND_AFTER + 10)
    RuleImport.objects.filter(pk=job.pk).update(status=RuleImportStatus.RUNNING, started_at=started)
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)

    assert rule_imports_sweep(now=started + limit - timedelta(seconds=1)) == []  # may still be running
    job.refresh_from_db()
    assert job.status == RuleImportStatus.RUNNING
    assert rule_imports_sweep(now=started + limit + timedelta(seconds=1)) == [job.pk]
    assert rule_import_task(job.pk) == RuleImportStatus.DONE
    assert Rule.objects.count() == 3


def test_a_task_delivered_twice_runs_the_import_once() -> None:
    job = _queued_import()
    RuleImport.objects.filter(pk=job.pk).update(status=RuleImportStatus.RUNNING)  # another worker has it
    assert rule_import_task(job.pk) == RuleImportStatus.RUNNING
    assert Rule.objects.count() == 0
