"""Excel import/export of rules: flows.excel, the import_rules/export_rules commands and the admin import."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.conf import settings
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connections
from django.urls import reverse
from django.utils import translation
from import_export.formats.base_formats import XLSX

from accounts.models import User
from flows.excel import (
    COLUMNS,
    CellError,
    RowError,
    RuleResource,
    canonical_column,
    clean_row,
    media_type_for_url,
    normalize_header,
    option_format_errors,
    parse_bool,
    parse_int,
    parse_response_type,
    rules_export,
    rules_import,
    split_pipe,
)
from flows.models import Rule, RuleMedia, rule_key
from flows.tests import factories

ENGLISH = list(COLUMNS[:-1])  # the columns, without key
SEED = [
    "step",
    "input_text",
    "priority",
    "respuesta",
    "tipo",
    "opciones",
    "siguiente_step",
    "rol_keyword",
    "calculo",
    "medias",
    "Activo",
]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are compared in English (the Spanish catalog may translate them)."""
    with translation.override("en"):
        yield


def xlsx(headers: Sequence[Any], rows: Sequence[Sequence[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def english_row(**values: Any) -> list[Any]:
    defaults = {
        **factories.RULE_DEFAULTS,
        "media_urls": "",
        "active": True,
    }
    defaults.update(values)
    return [defaults[name] for name in ENGLISH]


def good_rows() -> list[list[Any]]:
    return [
        english_row(
            step="inicio",
            input_text="*",
            priority=10,
            response_type="button",
            response_text="¡Hola! ¿Qué necesitas?",
            options="Cotizar | Ver catálogo | Asesor",
            next_step="menu",
        ),
        english_row(
            step="menu",
            input_text="ver catalogo, catalogo",
            response_type="list",
            response_text="Elige una categoría",
            options="Mesones: Cuarzo y granito | Lavaplatos | Griferías: Monocontrol",
            next_step="catalogo",
            advance_steps=1,
            role_keyword="interesado",
        ),
        english_row(
            step="catalogo",
            input_text="*",
            response_type="image",
            response_text="Nuestro catálogo",
            media_urls="https://cdn.example.com/c.jpg | https://cdn.example.com/v.mp4 | https://cdn.example.com/a.pdf",
        ),
        english_row(
            step="menu",
            input_text="cotizar",
            priority=5,
            response_text="Medidas: {result}",
            handler="countertop_quote",
            calculation="350000",
            active=False,
        ),
    ]


def rule_values() -> list[tuple[Any, ...]]:
    return list(
        Rule.objects.order_by("key").values_list(
            "key",
            "step",
            "input_text",
            "priority",
            "response_type",
            "response_text",
            "options",
            "next_step",
            "advance_steps",
            "role_keyword",
            "handler",
            "calculation",
            "active",
        )
    )


def media_values() -> list[tuple[Any, ...]]:
    return list(RuleMedia.objects.order_by("rule__key", "order", "id").values_list("rule__key", "media_type", "url"))


# --- pure helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Input Text", "input_text"),
        ("input text", "input_text"),
        ("  INPUT-TEXT ", "input_text"),
        ("siguiente_step", "next_step"),
        ("Siguiente Step", "next_step"),
        ("respuesta", "response_text"),
        ("tipo", "response_type"),
        ("opciones", "options"),
        ("rol_keyword", "role_keyword"),
        ("Cálculo", "calculation"),
        ("calculo", "calculation"),
        ("medias", "media_urls"),
        ("media_urls", "media_urls"),
        ("clave", "key"),
        ("key", "key"),
        ("activo", "active"),
        ("prioridad", "priority"),
        ("Paso", "step"),
        ("advance steps", "advance_steps"),
        ("colour", None),
        (None, None),
    ],
)
def test_column_aliases(header: Any, column: str | None) -> None:
    assert canonical_column(header) == column


def test_normalize_header() -> None:
    assert normalize_header(" Siguiente  Step ") == "siguiente_step"
    assert normalize_header("Cálculo") == "calculo"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (1.0, True),
        ("1", True),
        ("0", False),
        ("true", True),
        ("FALSE", False),
        ("Sí", True),
        ("si", True),
        ("no", False),
        ("yes", True),
        ("x", True),
        ("X", True),
        ("", False),
        (None, False),
    ],
)
def test_parse_bool(value: Any, expected: bool) -> None:
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", "quizás", 2, "2"])
def test_parse_bool_rejects(value: Any) -> None:
    with pytest.raises(CellError, match="is not yes or no"):
        parse_bool(value)


@pytest.mark.parametrize(
    ("value", "expected"), [(5, 5), (5.0, 5), ("7", 7), (" 8 ", 8), ("9.0", 9), ("", 100), (None, 100)]
)
def test_parse_int(value: Any, expected: int) -> None:
    assert parse_int(value, default=100, maximum=1000) == expected


@pytest.mark.parametrize("value", [-1, "-1", 1.5, "alta", True, 1001])
def test_parse_int_rejects(value: Any) -> None:
    with pytest.raises(CellError, match="is not a whole number from 0 to 1000"):
        parse_int(value, default=0, maximum=1000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        ("texto", "text"),
        ("Lista", "list"),
        ("botones", "button"),
        ("Botón", "button"),
        ("boton", "button"),
        ("buttons", "button"),
        ("imagen", "image"),
        ("video", "video"),
        ("Vídeo", "video"),
        ("audio", "audio"),
        ("documento", "document"),
        ("", "text"),
        (None, "text"),
    ],
)
def test_parse_response_type(value: Any, expected: str) -> None:
    assert parse_response_type(value) == expected


@pytest.mark.parametrize(
    ("url", "media_type"),
    [
        ("https://x.co/a.jpg", "image"),
        ("https://x.co/a.JPEG?size=2", "image"),
        ("https://x.co/a.png", "image"),
        ("https://x.co/a.webp", "image"),
        ("https://x.co/a.mp4", "video"),
        ("https://x.co/a.3gp", "video"),
        ("https://x.co/a.mp3", "audio"),
        ("https://x.co/a.ogg", "audio"),
        ("https://x.co/a.opus", "audio"),
        ("https://x.co/a.aac", "audio"),
        ("https://x.co/a.m4a", "audio"),
        ("https://x.co/a.amr", "audio"),
        ("https://x.co/a.pdf", "document"),
        ("https://x.co/catalogo", "document"),
        ("https://x.co/v1.2/file", "document"),
    ],
)
def test_media_type_for_url(url: str, media_type: str) -> None:
    assert media_type_for_url(url) == media_type


def test_split_pipe_and_option_format() -> None:
    assert split_pipe(" a | b ||c | ") == ["a", "b", "c"]
    assert split_pipe(None) == []
    assert option_format_errors("A | B: desc | C") == []
    assert option_format_errors("| A | B |") == []  # a | at either end is harmless
    assert option_format_errors("A || B") == ["Option 2 is empty (two | in a row)."]
    assert option_format_errors("A | : sin título") == [
        "Option 2 (': sin título') has no title; write 'title' or 'title: description'."
    ]


def test_clean_row_keeps_only_the_file_columns() -> None:
    cleaned = clean_row({"step": " menu ", "tipo": "x"}, number=2)
    assert cleaned.values == {"step": "menu"}
    assert cleaned.media_urls is None
    assert cleaned.errors == []


def test_row_error_text() -> None:
    assert str(RowError(3, "tipo", "bad.")) == "row 3, column tipo: bad."
    assert str(RowError(3, "", "bad.")) == "row 3: bad."
    assert str(RowError(None, "", "bad file.")) == "bad file."


def test_resource_is_atomic_and_matches_by_key() -> None:
    resource = RuleResource()
    assert resource.get_use_transactions() is True
    assert resource._meta.import_id_fields == ["key"]
    assert resource._meta.skip_unchanged is True
    assert resource._meta.report_skipped is True


# --- import --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_creates_rules_with_options_and_media() -> None:
    report = rules_import(file=xlsx(ENGLISH, good_rows()), dry_run=False)

    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (4, 0, 0)
    assert report.saved
    assert Rule.objects.count() == 4
    start = Rule.objects.get(step="inicio")
    assert start.key == rule_key("inicio", "*")
    assert start.response_type == "button"
    assert start.options == "Cotizar | Ver catálogo | Asesor"
    assert (start.priority, start.next_step, start.active) == (10, "menu", True)
    menu = Rule.objects.get(step="menu", input_text="ver catalogo, catalogo")
    assert (menu.response_type, menu.advance_steps, menu.role_keyword) == ("list", 1, "interesado")
    quote = Rule.objects.get(step="menu", input_text="cotizar")
    assert (quote.handler, quote.calculation, quote.priority, quote.active) == ("countertop_quote", "350000", 5, False)
    catalog = Rule.objects.get(step="catalogo")
    assert list(catalog.media.values_list("media_type", "url", "order")) == [
        ("image", "https://cdn.example.com/c.jpg", 0),
        ("video", "https://cdn.example.com/v.mp4", 1),
        ("document", "https://cdn.example.com/a.pdf", 2),
    ]


@pytest.mark.django_db
def test_reimporting_the_same_file_updates_instead_of_duplicating() -> None:
    data = xlsx(ENGLISH, good_rows())
    rules_import(file=data)
    before, media_before = rule_values(), media_values()

    again = rules_import(file=data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert rule_values() == before
    assert media_values() == media_before

    rows = good_rows()
    rows[0][ENGLISH.index("response_text")] = "¡Bienvenido!"
    rows[2][ENGLISH.index("media_urls")] = "https://cdn.example.com/v.mp4 | https://cdn.example.com/new.png"
    changed = rules_import(file=xlsx(ENGLISH, rows))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 2, 2)
    assert Rule.objects.count() == 4
    assert Rule.objects.get(step="inicio").response_text == "¡Bienvenido!"
    assert list(Rule.objects.get(step="catalogo").media.values_list("media_type", "url")) == [
        ("video", "https://cdn.example.com/v.mp4"),
        ("image", "https://cdn.example.com/new.png"),
    ]


@pytest.mark.django_db
def test_export_then_import_is_unchanged(settings: Any) -> None:
    settings.MEDIA_PUBLIC_BASE_URL = "https://files.example.com/media"
    rules_import(file=xlsx(ENGLISH, good_rows()))
    catalog = Rule.objects.get(step="catalogo")
    catalog.media.create(
        media_type="image", file=SimpleUploadedFile("foto.jpg", b"\xff\xd8jpeg"), caption="Foto", order=5
    )
    factories.rule(step="inicio", input_text="hola", response_text="=== Menú ===\nlínea 2", key="saludo")
    before, media_before = rule_values(), media_values()

    data = rules_export()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(COLUMNS)
    assert [(r[0], r[2]) for r in rows[1:]] == [
        ("catalogo", 100),
        ("inicio", 10),
        ("inicio", 100),
        ("menu", 5),
        ("menu", 100),
    ]
    catalog_row = dict(zip(COLUMNS, rows[1], strict=True))
    file_url = "https://files.example.com/media/" + catalog.media.get(caption="Foto").file.name
    assert catalog_row["media_urls"].split(" | ")[-1] == file_url
    assert catalog_row["active"] is True

    report = rules_import(file=io.BytesIO(data))
    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (0, 0, 5)
    assert rule_values() == before
    assert media_values() == media_before
    assert catalog.media.filter(caption="Foto").exclude(file="").count() == 1


@pytest.mark.django_db
def test_seed_style_spanish_headers(tmp_path: Path) -> None:
    rows = [
        ["inicio", "*", 1, "Hola, elige", "botones", "Cotizar|Catálogo", "menu", "", "", "", "sí"],
        [
            "menu",
            "catalogo, 2",
            2,
            "Categorías",
            "lista",
            "Mesones: granito | Lavaplatos",
            "catalogo",
            "cliente",
            "",
            "",
            "x",
        ],
        ["catalogo", "*", 3, "Mira", "imagen", "", "", "", "", "https://x.co/a.jpg|https://x.co/b.webp", 1],
        ["menu", "cotizar", 4, "{result}", "texto", "", "", "", "120000", "", "no"],
    ]
    path = tmp_path / "reglas.xlsx"
    path.write_bytes(xlsx(SEED, rows))

    report = rules_import(file=path)
    assert report.errors == []
    assert report.created == 4
    start = Rule.objects.get(key=rule_key("inicio", "*"))
    assert (start.response_type, start.options, start.response_text, start.active) == (
        "button",
        "Cotizar|Catálogo",
        "Hola, elige",
        True,
    )
    menu = Rule.objects.get(key=rule_key("menu", "catalogo, 2"))
    assert (menu.response_type, menu.role_keyword, menu.next_step) == ("list", "cliente", "catalogo")
    assert Rule.objects.get(step="catalogo").media.count() == 2
    quote = Rule.objects.get(step="menu", input_text="cotizar")
    assert (quote.calculation, quote.active, quote.response_type) == ("120000", False, "text")

    again = rules_import(file=path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert Rule.objects.count() == 4


@pytest.mark.django_db
def test_rows_with_the_same_step_and_keywords_get_numbered_keys_and_a_warning() -> None:
    rows = [english_row(priority=1), english_row(priority=2, response_text="Otra")]
    report = rules_import(file=xlsx(ENGLISH, rows))
    assert report.errors == []
    base = rule_key("inicio", "*")
    assert sorted(Rule.objects.values_list("key", flat=True)) == [base, f"{base}#2"]
    assert any("row 3, column input_text" in w and "same step and keywords" in w for w in report.warnings)
    assert (rules_import(file=xlsx(ENGLISH, rows)).unchanged) == 2


@pytest.mark.django_db
def test_an_explicit_key_identifies_the_rule_even_when_step_changes() -> None:
    headers = ["clave", "paso", "input_text", "respuesta"]
    rules_import(file=xlsx(headers, [["bienvenida", "inicio", "*", "Hola"]]))
    report = rules_import(file=xlsx(headers, [["bienvenida", "saludo", "*", "Hola"]]))
    assert (report.created, report.updated) == (0, 1)
    assert list(Rule.objects.values_list("key", "step")) == [("bienvenida", "saludo")]


BAD_CELLS = [
    ("step", "", "step", "A step is required."),
    ("step", "x" * 101, "step", "101 characters; at most 100 are allowed."),
    ("response_type", "carrusel", "response_type", "'carrusel' is not a response type"),
    ("priority", "alta", "priority", "'alta' is not a whole number from 0 to 2147483647."),
    ("priority", -3, "priority", "is not a whole number"),
    ("advance_steps", 2.5, "advance_steps", "'2.5' is not a whole number from 0 to 32767."),
    ("active", "quizás", "active", "'quizás' is not yes or no"),
    ("handler", "no_such_handler", "handler", "Unknown handler 'no_such_handler'"),
    ("role_keyword", "r" * 51, "role_keyword", "at most 50 are allowed"),
    ("options", "Uno || Dos", "options", "Option 2 is empty"),
    ("options", "Uno | : solo descripción", "options", "Option 2 (': solo descripción') has no title"),
    ("media_urls", "ftp://x.co/a.jpg", "media_urls", "'ftp://x.co/a.jpg' is not a valid http(s) URL"),
    ("media_urls", "https://ok.co/a.jpg | no es url", "media_urls", "'no es url' is not a valid http(s) URL"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("column", "value", "label", "message"), BAD_CELLS)
def test_a_bad_cell_is_reported_by_row_and_column_and_nothing_is_written(
    column: str, value: Any, label: str, message: str
) -> None:
    bad = english_row(**{"step": "menu", column: value})
    report = rules_import(file=xlsx(ENGLISH, [english_row(), bad, english_row(step="fin")]))

    assert [(e.row, e.column) for e in report.errors] == [(3, label)]
    assert message in report.errors[0].message
    assert str(report.errors[0]).startswith(f"row 3, column {label}: ")
    assert not report.saved
    assert Rule.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("response_type", "options", "message"),
    [
        ("button", "Uno | Dos | Tres | Cuatro", "4 buttons given; WhatsApp allows at most 3"),
        ("botones", "Una opción demasiado larga", "Button 1 title 'Una opción demasiado larga' has 26 characters"),
        ("list", " | ".join(f"Fila {n}" for n in range(11)), "11 list rows given; WhatsApp allows at most 10"),
        ("lista", "Un título de fila demasiado largo", "Row 1 title"),
        ("list", "Fila: " + "d" * 73, "Row 1 description"),
        ("button", "", "A button response needs 1 to 3 options"),
    ],
)
def test_whatsapp_limits_of_buttons_and_lists(response_type: str, options: str, message: str) -> None:
    headers = ["paso", "input_text", "respuesta", "tipo", "opciones"]
    report = rules_import(file=xlsx(headers, [["inicio", "*", "Elige", response_type, options]]))
    assert [(e.row, e.column) for e in report.errors] == [(2, "opciones")]
    assert message in report.errors[0].message
    assert Rule.objects.count() == 0


@pytest.mark.django_db
def test_every_error_of_a_row_is_reported() -> None:
    bad = english_row(response_type="nope", priority="x", active="maybe", handler="zzz")
    report = rules_import(file=xlsx(ENGLISH, [bad]))
    assert sorted(e.column for e in report.errors) == ["active", "handler", "priority", "response_type"]
    assert {e.row for e in report.errors} == {2}


@pytest.mark.django_db
def test_the_column_is_named_as_the_file_names_it() -> None:
    report = rules_import(file=xlsx(["Paso", "Tipo", "Respuesta"], [["inicio", "carrusel", "Hola"]]))
    assert str(report.errors[0]).startswith("row 2, column Tipo: 'carrusel' is not a response type")


@pytest.mark.django_db
def test_a_repeated_key_is_an_error() -> None:
    headers = ["key", "step", "input_text", "response_text"]
    report = rules_import(file=xlsx(headers, [["k1", "a", "*", "x"], ["k1", "b", "*", "y"]]))
    assert [str(e) for e in report.errors] == [
        "row 3, column key: Key 'k1' is also the key of row 2; each rule needs its own key."
    ]


@pytest.mark.django_db
def test_one_bad_row_writes_nothing() -> None:
    existing = factories.rule(step="inicio", input_text="*", response_text="Original", priority=1)
    existing.media.create(url="https://cdn.example.com/keep.jpg", media_type="image")
    rows = good_rows()
    rows[0][ENGLISH.index("media_urls")] = "https://cdn.example.com/other.jpg"
    rows.append(english_row(step="fin", response_type="carrusel"))
    before, media_before = rule_values(), media_values()

    report = rules_import(file=xlsx(ENGLISH, rows))

    assert [(e.row, e.column) for e in report.errors] == [(6, "response_type")]
    assert not report.saved
    assert rule_values() == before
    assert media_values() == media_before


@pytest.mark.django_db
def test_dry_run_reports_what_would_change_and_writes_nothing() -> None:
    factories.rule(step="inicio", input_text="*", response_text="Viejo", priority=10)
    before = rule_values()

    report = rules_import(file=xlsx(ENGLISH, good_rows()), dry_run=True)

    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (3, 1, 0)
    assert report.dry_run and not report.saved
    assert rule_values() == before
    assert RuleMedia.objects.count() == 0


@pytest.mark.django_db
def test_empty_rows_are_skipped_and_rows_keep_their_excel_numbers() -> None:
    rows = [
        english_row(),
        [None] * len(ENGLISH),
        ["  "] + [None] * (len(ENGLISH) - 1),
        english_row(step="x", priority="?"),
    ]
    report = rules_import(file=xlsx(ENGLISH, rows))
    assert [(e.row, e.column) for e in report.errors] == [(5, "priority")]

    rows[3] = english_row(step="x")
    assert rules_import(file=xlsx(ENGLISH, rows)).created == 2


@pytest.mark.django_db
def test_next_steps_that_no_rule_handles_are_warnings() -> None:
    factories.rule(step="guardado", input_text="*", response_text="ok")
    rows = [
        english_row(next_step="menu"),  # defined in the file
        english_row(step="menu", next_step="guardado"),  # defined in the database
        english_row(step="menu", input_text="ia", next_step="ia_chat"),  # the AI hand-off step
        english_row(step="menu", input_text="perdido", next_step="ningun_lado"),
    ]
    report = rules_import(file=xlsx(ENGLISH, rows))
    assert report.errors == []
    assert report.created == 4
    dangling = [w for w in report.warnings if "No rule has the step" in w]
    assert dangling == [
        "row 5, column next_step: No rule has the step 'ningun_lado' (in this file or already saved): "
        "chats sent there get the fallback text."
    ]


@pytest.mark.django_db
def test_rule_warnings_do_not_block_the_import() -> None:
    factories.rule(step="menu", input_text="hola", response_text="Hola", key="saludo-a-mano")
    rows = [
        english_row(step="menu", response_type="imagen", response_text="Sin foto"),
        english_row(step="menu", input_text="Hola", response_text="Otra vez"),
        english_row(step="menu", input_text="seguir", advance_steps=25),
        english_row(step="menu", input_text="nada", response_text=""),
    ]
    report = rules_import(file=xlsx(ENGLISH, rows))
    assert report.errors == []
    assert report.created == 4
    assert report.warnings == [
        "row 2, column media_urls: Response type image needs a URL in media_urls; without one the text is sent "
        "instead.",
        "row 3, column input_text: The saved rule 'saludo-a-mano' already answers these keywords in step 'menu', "
        "so two rules will answer them; only the first by priority ever does.",
        "row 4, column advance_steps: The bot advances at most 20 steps in a row; 25 is capped to that.",
        "row 5, column response_text: The response text is empty: this rule sends no message.",
    ]


@pytest.mark.django_db
def test_an_empty_sheet_is_an_error() -> None:
    report = rules_import(file=xlsx([], []))
    assert [str(e) for e in report.errors] == [
        "row 1, column step: The file has no step column (step or paso); the first row must name the columns."
    ]


@pytest.mark.django_db
def test_unknown_columns_are_ignored_with_a_warning() -> None:
    report = rules_import(file=xlsx(["step", "respuesta", "Notas"], [["inicio", "Hola", "interno"]]))
    assert report.errors == []
    assert report.created == 1
    assert any("Column 'Notas' is not a rule column and was ignored" in w for w in report.warnings)


@pytest.mark.django_db
def test_media_urls_replace_the_url_media_and_keep_uploaded_files() -> None:
    rule = factories.rule(step="inicio", input_text="*", response_text="Mira", response_type="image")
    rule.media.create(url="https://x.co/old.jpg", media_type="image", order=0)
    kept = rule.media.create(url="https://x.co/kept.jpg", media_type="image", caption="Pie", order=1)
    uploaded = rule.media.create(file=SimpleUploadedFile("f.png", b"png"), media_type="image", order=2)

    report = rules_import(
        file=xlsx(["step", "input_text", "media_urls"], [["inicio", "*", "https://x.co/kept.jpg | https://x.co/n.ogg"]])
    )

    assert report.errors == []
    assert report.updated == 1
    media = list(rule.media.order_by("order", "id"))
    assert [(m.pk == kept.pk, m.url, m.media_type, m.caption) for m in media if m.url] == [
        (True, "https://x.co/kept.jpg", "image", "Pie"),
        (False, "https://x.co/n.ogg", "audio", ""),
    ]
    assert RuleMedia.objects.filter(pk=uploaded.pk).exists()


@pytest.mark.django_db
def test_columns_missing_from_the_file_keep_their_values() -> None:
    rule = factories.rule(step="inicio", input_text="*", response_text="Hola", priority=7, active=False)
    report = rules_import(file=xlsx(["step", "input_text", "respuesta"], [["inicio", "*", "Hola de nuevo"]]))
    assert report.updated == 1
    rule.refresh_from_db()
    assert (rule.response_text, rule.priority, rule.active) == ("Hola de nuevo", 7, False)


# --- bad files -----------------------------------------------------------------------------


def _zip_without_workbook() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        b"step,input_text\ninicio,*\n",
        b"",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old .xls",
        xlsx(ENGLISH, good_rows())[:300],
        _zip_without_workbook(),
    ],
    ids=["csv", "empty", "xls", "truncated", "zip"],
)
def test_a_file_that_is_not_xlsx_is_a_clear_error(data: bytes) -> None:
    report = rules_import(file=data)
    assert len(report.errors) == 1
    error = report.errors[0]
    assert error.row is None
    assert "Excel workbook (.xlsx)" in error.message
    assert "Traceback" not in error.message
    assert Rule.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "rows", "expected"),
    [
        (["input_text", "respuesta"], [["*", "Hola"]], "row 1, column step: The file has no step column"),
        (["step", "respuesta", "response_text"], [["a", "b", "c"]], "row 1, column response_text: This column repeats"),
        (["step", "respuesta"], [], "The file has no rules: every row below the header is empty."),
        (["step", "respuesta"], [[None, None], ["", " "]], "The file has no rules"),
    ],
)
def test_file_level_errors(headers: list[str], rows: list[list[Any]], expected: str) -> None:
    report = rules_import(file=xlsx(headers, rows))
    assert report.errors
    assert str(report.errors[0]).startswith(expected)
    assert Rule.objects.count() == 0


# --- management commands -------------------------------------------------------------------


@pytest.mark.django_db
def test_import_rules_command(tmp_path: Path) -> None:
    path = tmp_path / "rules.xlsx"
    path.write_bytes(xlsx(ENGLISH, good_rows()))

    out = io.StringIO()
    call_command("import_rules", str(path), "--dry-run", stdout=out)
    assert "Dry run: 4 created, 0 updated, 0 unchanged. Nothing was saved." in out.getvalue()
    assert Rule.objects.count() == 0

    out = io.StringIO()
    call_command("import_rules", str(path), stdout=out)
    assert "4 created, 0 updated, 0 unchanged." in out.getvalue()
    assert Rule.objects.count() == 4

    out = io.StringIO()
    call_command("import_rules", str(path), stdout=out)
    assert "0 created, 0 updated, 4 unchanged." in out.getvalue()


@pytest.mark.django_db
def test_import_rules_command_reports_errors_and_fails(tmp_path: Path) -> None:
    rows = [english_row(), english_row(step="menu", response_type="carrusel", next_step="nada")]
    path = tmp_path / "bad.xlsx"
    path.write_bytes(xlsx(ENGLISH, rows))
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 error; nothing was imported"):
        call_command("import_rules", str(path), stdout=out, stderr=err)

    assert "row 3, column response_type: 'carrusel' is not a response type" in err.getvalue()
    assert "row 3, column next_step: No rule has the step 'nada'" in out.getvalue()
    assert Rule.objects.count() == 0


@pytest.mark.django_db
def test_import_rules_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    # As from a shell (run_from_argv: CommandError -> message on stderr, exit status 1), keeping the
    # test database open (run_from_argv closes every connection when it ends).
    monkeypatch.setattr(connections, "close_all", lambda: None)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "import_rules", str(bad)])
    assert exit_info.value.code == 1
    assert "Excel workbook (.xlsx)" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "import_rules", str(tmp_path / "missing.xlsx")])
    assert exit_info.value.code == 1
    assert "missing.xlsx" in capsys.readouterr().err

    good = tmp_path / "good.xlsx"
    good.write_bytes(xlsx(ENGLISH, good_rows()))
    execute_from_command_line(["manage.py", "import_rules", str(good)])  # no SystemExit: exit code 0
    assert "4 created" in capsys.readouterr().out


@pytest.mark.django_db
def test_export_rules_command(tmp_path: Path) -> None:
    rules_import(file=xlsx(ENGLISH, good_rows()))
    path = tmp_path / "out.xlsx"
    out = io.StringIO()

    call_command("export_rules", str(path), stdout=out)

    assert f"Exported 4 rules to {path}." in out.getvalue()
    report = rules_import(file=path)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)

    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_rules", str(tmp_path / "no" / "such" / "dir.xlsx"), stdout=io.StringIO())


# --- admin (django-import-export's two steps) -----------------------------------------------


@pytest.fixture
def admin_client_en(client: Any) -> Any:
    user = User.objects.create_superuser(username="jefe", password="clave-segura-123", email="jefe@example.com")
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _xlsx_format_index() -> str:
    model_admin = admin.site._registry[Rule]
    return str([f.__name__ for f in model_admin.get_import_formats()].index(XLSX.__name__))


def _upload(client: Any, data: bytes, name: str = "rules.xlsx") -> Any:
    return client.post(
        reverse("admin:flows_rule_import"),
        {"resource": "0", "format": _xlsx_format_index(), "import_file": SimpleUploadedFile(name, data)},
    )


@pytest.mark.django_db
def test_admin_import_preview_then_confirm(admin_client_en: Any) -> None:
    assert admin_client_en.get(reverse("admin:flows_rule_import")).status_code == 200

    preview = _upload(
        admin_client_en, xlsx(SEED, [["inicio", "*", 1, "Hola", "botones", "A|B", "menu", "", "", "", "sí"]])
    )

    assert preview.status_code == 200
    assert preview.context["confirm_form"] is not None
    result = preview.context["result"]
    assert result.totals["new"] == 1
    assert not result.has_validation_errors()
    assert any("No rule has the step 'menu'" in w for w in result.rule_warnings)
    assert "Confirm import" in preview.content.decode()
    assert Rule.objects.count() == 0  # the preview is a dry run

    confirm = preview.context["confirm_form"]
    done = admin_client_en.post(reverse("admin:flows_rule_process_import"), confirm.initial)

    assert done.status_code == 302
    assert Rule.objects.count() == 1
    rule = Rule.objects.get()
    assert (rule.key, rule.response_type, rule.options) == (rule_key("inicio", "*"), "button", "A|B")

    again = _upload(
        admin_client_en, xlsx(SEED, [["inicio", "*", 1, "Hola", "botones", "A|B", "menu", "", "", "", "sí"]])
    )
    assert again.context["result"].totals["skip"] == 1


@pytest.mark.django_db
def test_admin_import_of_a_bad_file_names_row_and_column_and_offers_no_confirm(admin_client_en: Any) -> None:
    rows = [english_row(), english_row(step="menu", response_type="carrusel")]
    response = _upload(admin_client_en, xlsx(ENGLISH, rows))

    assert response.status_code == 200
    assert "confirm_form" not in response.context or not response.context["confirm_form"]
    result = response.context["result"]
    assert [row.number for row in result.invalid_rows] == [3]
    messages = result.invalid_rows[0].field_specific_errors["response_type"]
    assert messages[0].startswith("row 3, column response_type: 'carrusel' is not a response type")
    assert "row 3, column response_type" in response.content.decode()
    assert Rule.objects.count() == 0


@pytest.mark.django_db
def test_admin_import_of_a_file_that_is_not_xlsx(admin_client_en: Any) -> None:
    response = _upload(admin_client_en, b"step,input_text\ninicio,*\n", name="rules.xlsx")
    assert response.status_code == 200
    assert response.context["form"].errors["import_file"]
    assert Rule.objects.count() == 0


@pytest.mark.django_db
def test_admin_import_template_shows_errors_and_warnings(admin_client_en: Any, monkeypatch: Any) -> None:
    """templates/admin/flows/rule/import.html (RuleAdmin.import_template_name) lists them in plain sight."""
    monkeypatch.setattr(admin.site._registry[Rule], "import_template_name", "admin/flows/rule/import.html")

    form = admin_client_en.get(reverse("admin:flows_rule_import")).content.decode()
    assert "siguiente_step" in form  # the help lists the Spanish aliases

    ok = _upload(admin_client_en, xlsx(ENGLISH, [english_row(next_step="nowhere")])).content.decode()
    assert 'class="rule-import-summary"' in ok
    assert "1 new, 0 updated, 0 unchanged" in ok
    assert "row 2, column next_step: No rule has the step &#x27;nowhere&#x27;" in ok

    bad = _upload(admin_client_en, xlsx(ENGLISH, [english_row(), english_row(active="maybe")])).content.decode()
    assert 'class="errorlist rule-import-errors"' in bad
    assert "row 3, column active: &#x27;maybe&#x27; is not yes or no" in bad

    missing = _upload(admin_client_en, xlsx(["respuesta"], [["Hola"]])).content.decode()
    assert "row 1, column step: The file has no step column" in missing
    assert "Traceback" not in missing


@pytest.mark.django_db
def test_admin_export_is_importable(admin_client_en: Any) -> None:
    rules_import(file=xlsx(ENGLISH, good_rows()))
    model_admin = admin.site._registry[Rule]
    index = [f.__name__ for f in model_admin.get_export_formats()].index(XLSX.__name__)
    data = {"format": str(index), "resource": "0", **{f"ruleresource_{name}": "on" for name in COLUMNS}}

    response = admin_client_en.post(reverse("admin:flows_rule_export"), data)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    report = rules_import(file=response.content)
    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
