"""Importing rules from Excel in the admin, in real Chromium: upload, preview, confirm; a bad file's errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin

from accounts.models import User
from flows.models import Rule
from flows.tests.test_excel import SEED, xlsx
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "clave-segura-123"

SEED_ROWS = [
    ["inicio", "*", 1, "¡Hola! ¿En qué te ayudo?", "botones", "Cotizar | Catálogo | Asesor", "menu", "", "", "", "sí"],
    [
        "menu",
        "catalogo, 2",
        2,
        "Elige una categoría",
        "lista",
        "Mesones: cuarzo y granito | Lavaplatos",
        "catalogo",
        "interesado",
        "",
        "",
        "x",
    ],
    [
        "catalogo",
        "*",
        3,
        "Nuestro catálogo",
        "imagen",
        "",
        "ia_chat",
        "",
        "",
        "https://cdn.example.com/catalogo.jpg",
        1,
    ],
]


@pytest.fixture
def rules_import_template(monkeypatch: Any) -> None:
    """The rules' own import page (RuleAdmin.import_template_name = "admin/flows/rule/import.html")."""
    monkeypatch.setattr(admin.site._registry[Rule], "import_template_name", "admin/flows/rule/import.html")


def _log_in_and_open_import(live_server: Any, page: Any) -> None:  # noqa: F811
    User.objects.create_superuser(username="jefe", password=PASSWORD, email="jefe@example.com")
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "jefe")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    page.goto(live_server.url + "/admin/flows/rule/")
    page.locator("a[href$='/admin/flows/rule/import/']").first.click()
    page.wait_for_url("**/admin/flows/rule/import/")


def _upload(page: Any, path: Path) -> None:  # noqa: F811
    page.set_input_files("#id_import_file", str(path))
    if page.locator("select#id_format").count():
        page.select_option("select#id_format", label="xlsx")
    page.locator("form[enctype='multipart/form-data'] input[type=submit]").click()
    page.wait_for_load_state()


def test_admin_uploads_previews_and_confirms_an_excel_file(
    live_server: Any,
    page: Any,  # noqa: F811
    tmp_path: Path,
    rules_import_template: None,
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "reglas.xlsx"
    path.write_bytes(xlsx(SEED, SEED_ROWS))

    _log_in_and_open_import(live_server, page)
    assert page.locator(".rule-import-help").is_visible()
    _upload(page, path)

    new_rows = page.locator("table.import-preview tr.new")
    assert new_rows.count() == 3
    assert page.locator(".rule-import-summary").inner_text().startswith("3 ")
    preview = page.locator("table.import-preview").inner_text()
    assert "Cotizar | Catálogo | Asesor" in preview
    assert "https://cdn.example.com/catalogo.jpg" in preview
    assert Rule.objects.count() == 0  # the preview is a dry run
    page.screenshot(path=str(SHOTS / "admin-import-preview.png"), full_page=True)

    page.locator("input[name=confirm]").click()
    page.wait_for_url(live_server.url + "/admin/flows/rule/")

    assert Rule.objects.count() == 3
    assert Rule.objects.get(step="catalogo").media.get().url == "https://cdn.example.com/catalogo.jpg"
    changelist = page.locator("#result_list").inner_text()
    for text in ("inicio", "menu", "catalogo", "catalogo, 2"):
        assert text in changelist
    assert page.locator("ul.messagelist li.success").is_visible()


def test_a_bad_file_shows_the_row_and_column_of_each_error(
    live_server: Any,
    page: Any,  # noqa: F811
    tmp_path: Path,
    rules_import_template: None,
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    rows = [list(SEED_ROWS[0]), list(SEED_ROWS[1])]
    rows[1][SEED.index("tipo")] = "carrusel"
    path = tmp_path / "malo.xlsx"
    path.write_bytes(xlsx(SEED, rows))

    _log_in_and_open_import(live_server, page)
    _upload(page, path)

    errors = page.locator("ul.rule-import-errors li")
    assert errors.count() == 1
    assert errors.first.is_visible()
    assert re.search(r"\b3\b.*\btipo\b.*carrusel", errors.first.inner_text())
    assert page.locator("input[name=confirm]").count() == 0
    page.screenshot(path=str(SHOTS / "admin-import-errors.png"), full_page=True)
    assert Rule.objects.count() == 0
