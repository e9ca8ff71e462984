"""Excel (.xlsx) import and export of flow rules, for the admin (django-import-export) and the CLI.

One sheet, one rule per row, the column names in the first row:

    step, input_text, priority, response_type, response_text, options, next_step,
    advance_steps, role_keyword, handler, calculation, media_urls,
    match_image_description, active, key

Column names are matched without case, accents or spacing ("Input Text",
"input-text"), and the seed's Spanish names are aliases (:data:`COLUMN_ALIASES`:
paso, respuesta, tipo, opciones, siguiente_step, rol_keyword, calculo, medias,
prioridad, activo, clave...). ``options`` holds entries separated by ``|``, each
``title`` or ``title: description``; ``media_urls`` holds http(s) URLs separated
by ``|`` (they replace the rule's URL media; uploaded files are kept).
``match_image_description`` (alias descripcion_imagen) and ``active`` are yes/no
cells (:func:`parse_bool`); a file without the first leaves it as it is (off
for a new rule), as any missing column does.

Rows are matched to rules by ``key``; a row without one gets the key
:func:`flows.models.rule_key` derives from its step and keywords (``#2``, ``#3``
for repeats, as ``Rule.save`` does), so importing the same file twice updates
the rules instead of duplicating them.

:func:`rules_import` is atomic (any error: nothing is written) and has a dry
run and a progress callback; errors name the row as Excel shows it (the header is row 1) and the column
as the file names it. :class:`RuleResource` is the same import for the admin's
two-step import (preview, then "Confirm import"). :func:`rules_export` writes the
rules as .xlsx with the English column names.

Before anything parses a workbook, :func:`workbook_check` opens it as a zip and
refuses it (:class:`WorkbookTooLarge`, naming the limit and its setting) when
the file, its uncompressed size, a member's compression ratio (a zip bomb), or
the rows or columns a sheet would yield are over RULES_IMPORT_MAX_FILE_BYTES,
RULES_IMPORT_MAX_UNCOMPRESSED_BYTES, RULES_IMPORT_MAX_COMPRESSION_RATIO,
RULES_IMPORT_MAX_ROWS or RULES_IMPORT_MAX_COLUMNS. Rows and columns are counted
by streaming the sheet XML (regular expressions over bounded chunks), from the
highest row number and cell reference as well as the declared <dimension>,
since openpyxl's reader pads missing rows and cells up to those.
"""

from __future__ import annotations

import io
import logging
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import tablib
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.formats.base_formats import XLSX
from import_export.results import Result

from conversations.services.bots import AI_RESPONDER, responder_handoff
from conversations.services.outbound_media import public_url
from flows.engine import DEFAULT_AI_HANDOFF_STEP, MEDIA_RESPONSE_TYPES, RESPONSE_TYPES
from flows.models import MediaType, Rule, RuleMedia, rule_key
from flows.roles import role_created_message, role_keyword_errors, rule_roles_ensure
from flows.validation import rule_problems

logger = logging.getLogger(__name__)

__all__ = [
    "COLUMNS",
    "COLUMN_ALIASES",
    "RESPONSE_TYPE_ALIASES",
    "ImportReport",
    "InvalidWorkbook",
    "RowError",
    "RuleFileError",
    "RuleResource",
    "WorkbookSize",
    "WorkbookTooLarge",
    "canonical_column",
    "clean_row",
    "import_limit",
    "media_type_for_url",
    "media_urls_of",
    "normalize_header",
    "option_format_errors",
    "parse_bool",
    "parse_int",
    "parse_response_type",
    "read_workbook",
    "rules_export",
    "rules_import",
    "split_pipe",
    "sync_rule_media",
    "workbook_bytes",
    "workbook_check",
]

# --- columns -------------------------------------------------------------------------------

#: The columns of an exported file, in order (the English names are the canonical ones).
COLUMNS: tuple[str, ...] = (
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
    "media_urls",
    "match_image_description",
    "active",
    "key",
)

#: Other names a column may have (compared after :func:`normalize_header`); canonical names map to themselves.
COLUMN_ALIASES: dict[str, str] = {
    **{name: name for name in COLUMNS},
    # key
    "clave": "key",
    "llave": "key",
    "id_regla": "key",
    # step
    "paso": "step",
    "etapa": "step",
    # input_text
    "input": "input_text",
    "entrada": "input_text",
    "texto_entrada": "input_text",
    "keywords": "input_text",
    "palabras_clave": "input_text",
    # priority
    "prioridad": "priority",
    # response_type
    "tipo": "response_type",
    "type": "response_type",
    "tipo_respuesta": "response_type",
    "tipo_de_respuesta": "response_type",
    # response_text
    "respuesta": "response_text",
    "response": "response_text",
    "texto_respuesta": "response_text",
    # options
    "opciones": "options",
    # next_step
    "siguiente_step": "next_step",
    "siguiente_paso": "next_step",
    # advance_steps
    "avanzar_pasos": "advance_steps",
    "pasos_avance": "advance_steps",
    # role_keyword
    "rol_keyword": "role_keyword",
    "rol": "role_keyword",
    "role": "role_keyword",
    # calculation
    "calculo": "calculation",
    # media_urls
    "medias": "media_urls",
    "media": "media_urls",
    "medios": "media_urls",
    "media_url": "media_urls",
    "urls_medias": "media_urls",
    # match_image_description
    "match_image_descriptions": "match_image_description",
    "image_description": "match_image_description",
    "descripcion_imagen": "match_image_description",
    "descripcion_de_imagen": "match_image_description",
    "coincidir_descripcion_imagen": "match_image_description",
    "usar_descripcion_imagen": "match_image_description",
    # active
    "activo": "active",
    "activa": "active",
    "enabled": "active",
}

#: Response types by their normalized spelling (English values, plural/Spanish names).
RESPONSE_TYPE_ALIASES: dict[str, str] = {
    **{value: value for value in RESPONSE_TYPES},
    "buttons": "button",
    "texto": "text",
    "lista": "list",
    "boton": "button",
    "botones": "button",
    "imagen": "image",
    "documento": "document",
    "doc": "document",
    "pdf": "document",
}

_TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "si", "s", "x", "verdadero", "v", "on"})
_FALSE_WORDS = frozenset({"", "0", "false", "f", "no", "n", "falso", "off"})

#: Media type by file extension; anything else is a document.
_MEDIA_EXTENSIONS: dict[str, str] = {
    **dict.fromkeys(("jpg", "jpeg", "png", "webp"), MediaType.IMAGE.value),
    **dict.fromkeys(("mp4", "3gp"), MediaType.VIDEO.value),
    **dict.fromkeys(("mp3", "ogg", "opus", "aac", "m4a", "amr"), MediaType.AUDIO.value),
}

_TEXT_LIMITS: dict[str, int] = {
    name: Rule._meta.get_field(name).max_length
    for name in ("key", "step", "next_step", "role_keyword", "handler", "calculation")
}
_URL_MAX = RuleMedia._meta.get_field("url").max_length
_INT_MAX = {"priority": 2_147_483_647, "advance_steps": 32_767}
_INT_DEFAULTS = {"priority": 100, "advance_steps": 0}
_KEY_BASE_MAX = 180  # as Rule.save: room for a "#n" suffix
_PENDING_MEDIA = "_excel_media_urls"
_url_validator = URLValidator(schemes=["http", "https"])


def _fold(value: str) -> str:
    """Lower case without accents ("Sí" -> "si")."""
    decomposed = unicodedata.normalize("NFKD", value).casefold()
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize_header(header: object) -> str:
    """A column name compared without case, accents or spacing: " Input-Text " -> "input_text"."""
    folded = _fold(str(header if header is not None else "").strip())
    words = "".join(c if c.isalnum() else " " for c in folded).split()
    return "_".join(words)


def canonical_column(header: object) -> str | None:
    """The canonical column a header names ("Siguiente Step" -> "next_step"), None when unknown."""
    return COLUMN_ALIASES.get(normalize_header(header))


# --- cell values ---------------------------------------------------------------------------


class CellError(ValueError):
    """A cell value that cannot be used; the message says why."""


def _text(value: object) -> str:
    """A cell as text: None -> "", 3.0 -> "3", strings stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _raw_text(value: object) -> str:
    """A cell as text, keeping its spacing (response texts)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_bool(value: object) -> bool:
    """1/0, true/false, sí/si/no, yes/no, x/empty (and Excel's TRUE/FALSE) -> bool; CellError otherwise."""
    if isinstance(value, bool):
        return value
    word = _fold(_text(value))
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise CellError(
        _("'%(value)s' is not yes or no; use 1/0, true/false, sí/no, yes/no, or x / empty.") % {"value": value}
    )


def parse_int(value: object, *, default: int, maximum: int) -> int:
    """A whole number from 0 to ``maximum`` (empty -> ``default``); CellError otherwise."""
    if _is_blank(value):
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            parsed = Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            parsed = None
        if parsed is not None and parsed.is_finite() and parsed == parsed.to_integral_value():
            number = int(parsed)
    if number is None or number < 0 or number > maximum:
        raise CellError(
            _("'%(value)s' is not a whole number from 0 to %(maximum)d.") % {"value": value, "maximum": maximum}
        )
    return number


def parse_response_type(value: object) -> str:
    """The response type a cell names (English or Spanish, any case); empty -> "text"; CellError otherwise."""
    word = normalize_header(_text(value))
    if not word:
        return "text"
    try:
        return RESPONSE_TYPE_ALIASES[word]
    except KeyError:
        raise CellError(
            _(
                "'%(value)s' is not a response type; use one of: %(choices)s "
                "(or texto, lista, botones, imagen, documento)."
            )
            % {"value": value, "choices": ", ".join(sorted(RESPONSE_TYPES))}
        ) from None


def split_pipe(value: object) -> list[str]:
    """The non-empty entries of "a | b | c", stripped."""
    return [part.strip() for part in _text(value).split("|") if part.strip()]


def option_format_errors(options: str) -> list[str]:
    """Format problems of an options cell: an empty entry between two |, an entry without a title."""
    entries = options.split("|")
    # A | at the very start or end is harmless; an empty entry in the middle is a typo.
    while entries and not entries[-1].strip():
        entries.pop()
    while entries and not entries[0].strip():
        entries.pop(0)
    problems: list[str] = []
    for number, entry in enumerate(entries, start=1):
        title = entry.partition(":")[0]
        if not entry.strip():
            problems.append(_("Option %(number)d is empty (two | in a row).") % {"number": number})
        elif not title.strip():
            problems.append(
                _("Option %(number)d ('%(entry)s') has no title; write 'title' or 'title: description'.")
                % {"number": number, "entry": entry.strip()}
            )
    return problems


def media_type_for_url(url: str) -> str:
    """image / video / audio by the URL's file extension; anything else is a document."""
    path = urlsplit(url).path
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _MEDIA_EXTENSIONS.get(extension, MediaType.DOCUMENT.value)


def _media_public_url(media: RuleMedia) -> str:
    if media.url:
        return media.url
    return public_url(media.file.name) if media.file else ""


def media_urls_of(rule: Rule) -> list[str]:
    """The URLs of a rule's media in order; uploaded files as their public URL (outbound_media.public_url)."""
    if rule.pk is None:
        return []
    return [url for url in (_media_public_url(m) for m in rule.media.all()) if url]


def _file_media_urls(rule: Rule | None) -> dict[str, str]:
    """Public URL -> media type of the rule's uploaded files (their URL in a file keeps them, not re-added)."""
    if rule is None or rule.pk is None:
        return {}
    return {public_url(m.file.name): m.media_type for m in rule.media.all() if m.file and not m.url}


def sync_rule_media(rule: Rule, urls: Sequence[str]) -> None:
    """Make the rule's URL media exactly ``urls``, in that order; uploaded files stay (reordered when listed).

    Media already there keep their caption and type; new ones get the type of their extension.
    """
    current = list(rule.media.all())
    files = {public_url(m.file.name): m for m in current if m.file and not m.url}
    by_url: dict[str, list[RuleMedia]] = {}
    for media in current:
        if media.url:
            by_url.setdefault(media.url, []).append(media)
    kept: set[int] = set()
    for order, url in enumerate(urls):
        media = files.get(url)
        if media is None and by_url.get(url):
            media = by_url[url].pop(0)
        if media is None:
            RuleMedia.objects.create(rule=rule, url=url, media_type=media_type_for_url(url), order=order)
            continue
        kept.add(media.pk)
        if media.order != order:
            media.order = order
            media.save(update_fields=["order"])
    stale = [m.pk for m in current if m.url and m.pk not in kept]
    if stale:
        RuleMedia.objects.filter(pk__in=stale).delete()


# --- errors and report ---------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """A problem of one cell. ``row`` as Excel shows it (1 is the header; None: the whole file)."""

    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        if self.row is None:
            return self.message
        if not self.column:
            return _("row %(row)d: %(message)s") % {"row": self.row, "message": self.message}
        return _("row %(row)d, column %(column)s: %(message)s") % {
            "row": self.row,
            "column": self.column,
            "message": self.message,
        }


@dataclass
class ImportReport:
    """What an import did (or, with errors or a dry run, would have done: then nothing was written)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def saved(self) -> bool:
        """True when the changes were written (no errors and not a dry run)."""
        return self.ok and not self.dry_run


class RuleFileError(Exception):
    """Problems of the file as a whole (missing or repeated columns, no rows); nothing was imported."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class InvalidWorkbook(Exception):
    """The file is not a readable .xlsx workbook."""


class WorkbookTooLarge(InvalidWorkbook):
    """The workbook is over one of the RULES_IMPORT_MAX_* limits; the message names it."""


# --- one row -------------------------------------------------------------------------------


@dataclass
class CleanRow:
    """A row's values ready for a Rule (only the columns the file has), plus its problems."""

    values: dict[str, Any] = field(default_factory=dict)
    media_urls: list[str] | None = None  # None: no media column
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)


def _clean_short_text(name: str, value: object) -> str:
    text = _text(value)
    limit = _TEXT_LIMITS[name]
    if len(text) > limit:
        raise CellError(
            _("%(length)d characters; at most %(maximum)d are allowed.") % {"length": len(text), "maximum": limit}
        )
    return text


def _clean_cell(name: str, value: object) -> Any:
    if name in _TEXT_LIMITS:
        return _clean_short_text(name, value)
    if name in _INT_MAX:
        return parse_int(value, default=_INT_DEFAULTS[name], maximum=_INT_MAX[name])
    if name == "response_type":
        return parse_response_type(value)
    if name in ("active", "match_image_description"):
        return parse_bool(value)
    if name == "input_text":
        return _text(value) or "*"
    if name == "response_text":
        return _raw_text(value)
    if name == "options":
        return _text(value)
    raise KeyError(name)  # pragma: no cover - every column has a cleaner


def clean_row(
    row: Mapping[str, object],
    *,
    number: int,
    labels: Mapping[str, str] | None = None,
    existing: Rule | None = None,
) -> CleanRow:
    """Check and convert one row (canonical column -> cell value) for the rule ``existing`` (None: a new one).

    ``number`` is the Excel row; ``labels`` maps canonical columns to the file's own header
    (used in messages). Columns the row lacks keep the existing rule's values.
    """
    labels = labels or {}
    result = CleanRow()

    def label(name: str) -> str:
        return labels.get(name, name)

    def error(name: str, message: str) -> None:
        result.errors.append(RowError(number, label(name) if name else "", message))

    for name in COLUMNS:
        if name not in row or name == "media_urls":
            continue
        try:
            result.values[name] = _clean_cell(name, row[name])
        except CellError as exc:
            error(name, str(exc))

    if result.values.get("step") == "":
        error("step", _("A step is required."))

    media_types: list[str] | None = None
    if "media_urls" in row:
        urls = split_pipe(row["media_urls"])
        files = _file_media_urls(existing)
        result.media_urls = urls
        media_types = []
        for url in urls:
            if url in files:
                media_types.append(files[url])
                continue
            try:
                if len(url) > _URL_MAX:
                    raise ValidationError("too long")
                _url_validator(url)
            except ValidationError:
                error(
                    "media_urls",
                    _("'%(url)s' is not a valid http(s) URL (at most %(maximum)d characters).")
                    % {"url": url, "maximum": _URL_MAX},
                )
            else:
                media_types.append(media_type_for_url(url))
    elif existing is not None and existing.pk is not None:
        media_types = [m.media_type for m in existing.media.all()]

    if "options" in result.values:
        for message in option_format_errors(result.values["options"]):
            error("options", message)

    def current(name: str, default: Any) -> Any:
        if name in result.values:
            return result.values[name]
        return getattr(existing, name, default) if existing is not None else default

    response_type_ok = "response_type" not in row or "response_type" in result.values
    problems = rule_problems(
        response_type=current("response_type", "text") if response_type_ok else "text",
        options=current("options", ""),
        response_text=current("response_text", ""),
        handler=current("handler", ""),
        advance_steps=current("advance_steps", 0),
        input_text=current("input_text", "*"),
        media_types=None,  # checked below, in the file's terms
    )
    reported = {e.column for e in result.errors}
    for problem in problems:
        if not response_type_ok and problem.field not in ("handler", "input_text", "advance_steps"):
            continue  # checks of another response type would only confuse
        if problem.is_error and problem.field and label(problem.field) in reported:
            continue  # the cell has an error of its own already
        target = result.errors if problem.is_error else result.warnings
        target.append(RowError(number, label(problem.field) if problem.field else "", problem.message))
    if response_type_ok:
        result.warnings.extend(
            RowError(number, label(name), message)
            for name, message in _media_warnings(
                current("response_type", "text"),
                media_types or [],
                has_text=bool(current("response_text", "").strip()) or bool(current("handler", "")),
            )
        )
    return result


def _media_warnings(response_type: str, media_types: Sequence[str], *, has_text: bool) -> list[tuple[str, str]]:
    """(column, message) of what the engine will do differently from what the row seems to ask."""
    if response_type in MEDIA_RESPONSE_TYPES:
        if not media_types:
            return [
                (
                    "media_urls",
                    _("Response type %(type)s needs a URL in media_urls; without one the text is sent instead.")
                    % {"type": response_type},
                )
            ]
        if response_type not in media_types:
            return [
                (
                    "media_urls",
                    _("None of the media URLs is of type %(type)s; the first one is sent as the %(type)s.")
                    % {"type": response_type},
                )
            ]
    elif response_type == "text" and not has_text and not media_types:
        return [("response_text", _("The response text is empty: this rule sends no message."))]
    return []


# --- the django-import-export resource -----------------------------------------------------


class MediaUrlsField(fields.Field):
    """The rule's media as "url | url": read from the rule, or from the row being imported (not yet saved)."""

    def get_value(self, instance: Rule) -> str:
        pending = getattr(instance, _PENDING_MEDIA, None)
        urls = pending if pending is not None else media_urls_of(instance)
        return " | ".join(urls)

    def save(self, instance: Rule, row: Mapping[str, Any], is_m2m: bool = False, **kwargs: Any) -> None:
        setattr(instance, _PENDING_MEDIA, split_pipe(row.get(self.column_name)))


def _text_field(name: str) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=widgets.CharWidget())


def _ai_handoff_step() -> str:
    ai = responder_handoff(AI_RESPONDER, create=False)  # the AI says its step when installed
    stored = ai.step if ai else None
    return stored or getattr(settings, "AI_HANDOFF_STEP", DEFAULT_AI_HANDOFF_STEP)


class RuleResource(resources.ModelResource):
    """Rules in a spreadsheet for django-import-export (admin import/export) and :func:`rules_import`.

    The import is all or nothing: it always runs in a transaction that is rolled
    back on any error, validation errors included. Errors name the Excel row and
    the file's column; warnings (next steps no rule handles, ...) are left on the
    import result as ``result.rule_warnings``.
    """

    step = _text_field("step")
    input_text = _text_field("input_text")
    priority = fields.Field(
        attribute="priority", column_name="priority", widget=widgets.IntegerWidget(coerce_to_string=False)
    )
    response_type = _text_field("response_type")
    response_text = _text_field("response_text")
    options = _text_field("options")
    next_step = _text_field("next_step")
    advance_steps = fields.Field(
        attribute="advance_steps", column_name="advance_steps", widget=widgets.IntegerWidget(coerce_to_string=False)
    )
    role_keyword = _text_field("role_keyword")
    handler = _text_field("handler")
    calculation = _text_field("calculation")
    media_urls = MediaUrlsField(column_name="media_urls")
    match_image_description = fields.Field(
        attribute="match_image_description",
        column_name="match_image_description",
        widget=widgets.BooleanWidget(coerce_to_string=False),
    )
    active = fields.Field(
        attribute="active", column_name="active", widget=widgets.BooleanWidget(coerce_to_string=False)
    )
    key = _text_field("key")

    class Meta:
        model = Rule
        fields = COLUMNS
        import_order = COLUMNS
        export_order = COLUMNS
        import_id_fields = ["key"]
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reset()

    #: Called as progress(rows_done, rows_total) after every row (rules_import's progress).
    progress: Callable[[int, int], None] | None = None

    def _reset(self) -> None:
        self.rows_done = 0
        self.excel_rows: list[int] = []
        self.labels: dict[str, str] = {}
        self.row_errors: list[RowError] = []
        self.row_warnings: list[RowError] = []
        self.file_warnings: list[str] = []
        self._keys_seen: dict[str, int] = {}

    # -- all or nothing ---------------------------------------------------------------------

    def import_data(self, dataset: tablib.Dataset, dry_run: bool = False, raise_errors: bool = False, **kwargs: Any):
        """As ModelResource.import_data, always in a transaction rolled back on any error or in a dry run."""
        kwargs["use_transactions"] = True
        kwargs["rollback_on_validation_errors"] = True
        self._reset()
        return super().import_data(dataset, dry_run=dry_run, raise_errors=raise_errors, **kwargs)

    # -- the file: headers, empty rows, keys ------------------------------------------------

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        """Rename the columns to their canonical names, drop empty rows and fill in the keys."""
        headers = list(dataset.headers or [])
        rows = [list(r) for r in dataset]
        dataset.wipe()
        columns: list[tuple[int, str]] = []  # (position in the file, canonical name)
        errors: list[RowError] = []
        for position, header in enumerate(headers):
            if _is_blank(header):
                if any(not _is_blank(r[position]) for r in rows if position < len(r)):
                    self.file_warnings.append(
                        _("A column without a name (column %(number)d) was ignored.") % {"number": position + 1}
                    )
                continue
            name = canonical_column(header)
            if name is None:
                self.file_warnings.append(
                    _("Column '%(column)s' is not a rule column and was ignored. Columns: %(columns)s.")
                    % {"column": header, "columns": ", ".join(COLUMNS)}
                )
                continue
            if name in self.labels:
                errors.append(
                    RowError(
                        1,
                        str(header).strip(),
                        _("This column repeats column '%(other)s' (both are %(name)s).")
                        % {"other": self.labels[name], "name": name},
                    )
                )
                continue
            self.labels[name] = str(header).strip()
            columns.append((position, name))
        if "step" not in self.labels:
            errors.append(
                RowError(
                    1, "step", _("The file has no step column (step or paso); the first row must name the columns.")
                )
            )

        kept: list[tuple[int, dict[str, Any]]] = []
        for index, raw in enumerate(rows):
            values = {name: raw[position] if position < len(raw) else None for position, name in columns}
            if all(_is_blank(v) for v in values.values()):
                continue
            kept.append((index + 2, values))
        if not kept and not errors:
            errors.append(RowError(None, "", _("The file has no rules: every row below the header is empty.")))
        if errors:
            raise RuleFileError(errors)

        self._fill_keys(kept)
        self._check_flow(kept)
        names = [name for _position, name in columns]
        if "key" not in names:
            names.append("key")
        dataset.headers = names
        for number, values in kept:
            dataset.append([values.get(name) for name in names])
            self.excel_rows.append(number)

    def _fill_keys(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Give every row a key: its own, else the one Rule.save would derive (#2, #3 for repeats)."""
        used = {_text(values.get("key")) for _n, values in rows} - {""}
        for _number, values in rows:
            own = _text(values.get("key"))
            if own:
                values["key"] = own
                continue
            base = rule_key(_text(values.get("step")), _text(values.get("input_text")) or "*")[:_KEY_BASE_MAX]
            candidate, n = base, 2
            while candidate in used:
                candidate, n = f"{base}#{n}", n + 1
            used.add(candidate)
            values["key"] = candidate

    def _check_flow(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Warnings: next steps no rule (of the file or the database) handles; keywords repeated in a step."""
        file_steps = {_text(values.get("step")) for _n, values in rows}
        defined = file_steps | set(Rule.objects.values_list("step", flat=True).distinct())
        defined.add(_ai_handoff_step())
        label = self.labels.get("next_step", "next_step")
        for number, values in rows:
            target = _text(values.get("next_step"))
            if target and target not in defined:
                self.row_warnings.append(
                    RowError(
                        number,
                        label,
                        _(
                            "No rule has the step '%(step)s' (in this file or already saved): chats sent there get the "
                            "fallback text."
                        )
                        % {"step": target},
                    )
                )
        seen: dict[str, int] = {}
        db_keys = {
            rule_key(step, keywords): key
            for key, step, keywords in Rule.objects.filter(step__in=file_steps).values_list("key", "step", "input_text")
        }
        file_keys = {values["key"] for _n, values in rows}
        for number, values in rows:
            step, keywords = _text(values.get("step")), _text(values.get("input_text")) or "*"
            if not step:
                continue
            match = rule_key(step, keywords)
            label = self.labels.get("input_text", "input_text")
            if match in seen:
                self.row_warnings.append(
                    RowError(
                        number,
                        label,
                        _("Row %(other)d has the same step and keywords; only the first by priority ever answers.")
                        % {"other": seen[match]},
                    )
                )
            else:
                seen[match] = number
                other_key = db_keys.get(match)
                if other_key and other_key != values["key"] and other_key not in file_keys:
                    self.row_warnings.append(
                        RowError(
                            number,
                            label,
                            _(
                                "The saved rule '%(key)s' already answers these keywords in step '%(step)s', so two "
                                "rules will answer them; only the first by priority ever does."
                            )
                            % {"key": other_key, "step": step},
                        )
                    )

    def _excel_row(self, row_number: int | None) -> int:
        if row_number and 0 < row_number <= len(self.excel_rows):
            return self.excel_rows[row_number - 1]
        return (row_number or 0) + 1

    # -- one row ----------------------------------------------------------------------------

    def import_instance(self, instance: Rule, row: Mapping[str, Any], **kwargs: Any) -> None:
        number = self._excel_row(kwargs.get("row_number"))
        cleaned = clean_row(row, number=number, labels=self.labels, existing=instance if instance.pk else None)
        errors = list(cleaned.errors)
        role_keyword = cleaned.values.get("role_keyword", "")
        errors.extend(
            RowError(number, self.labels.get("role_keyword", "role_keyword"), message)
            for message in role_keyword_errors(role_keyword)
        )
        key = cleaned.values.get("key", "")
        if key in self._keys_seen:
            errors.append(
                RowError(
                    number,
                    self.labels.get("key", "key"),
                    _("Key '%(key)s' is also the key of row %(other)d; each rule needs its own key.")
                    % {"key": key, "other": self._keys_seen[key]},
                )
            )
        elif key:
            self._keys_seen[key] = number
        if errors:
            self.row_errors.extend(errors)
            by_column: dict[str, list[str]] = {}
            for error in errors:
                by_column.setdefault(error.column or NON_FIELD_ERRORS, []).append(str(error))
            raise ValidationError(by_column)
        self.row_warnings.extend(cleaned.warnings)
        for name, value in cleaned.values.items():
            setattr(instance, name, value)
        # Roles are resolved here, inside the import's transaction (rolled back with a dry run or an error):
        # a keyword no role has creates the role, and the report says so.
        self.row_warnings.extend(
            RowError(number, self.labels.get("role_keyword", "role_keyword"), role_created_message(role))
            for role in rule_roles_ensure(role_keyword=role_keyword)
        )
        setattr(instance, _PENDING_MEDIA, cleaned.media_urls)

    def after_import_row(self, row: Mapping[str, Any], row_result: Any, **kwargs: Any) -> None:
        self.rows_done += 1
        if self.progress is not None:
            self.progress(self.rows_done, len(self.excel_rows))

    def after_save_instance(self, instance: Rule, row: Mapping[str, Any], **kwargs: Any) -> None:
        urls = getattr(instance, _PENDING_MEDIA, None)
        if urls is not None:
            sync_rule_media(instance, urls)

    def after_import(self, dataset: tablib.Dataset, result: Result, **kwargs: Any) -> None:
        """Number the failed rows as Excel does and leave the warnings on the result (for the admin template)."""
        for invalid in result.invalid_rows:
            invalid.number = self._excel_row(invalid.number)
        for failed in result.error_rows:
            failed.number = self._excel_row(failed.number)
        result.rule_errors = sorted(self.row_errors, key=lambda e: e.row or 0)
        result.rule_warnings = self.warnings()

    def warnings(self) -> list[str]:
        """The import's warnings: the file's first, then the rows' in row order."""
        rows = sorted(self.row_warnings, key=lambda w: w.row or 0)
        return [*self.file_warnings, *(str(w) for w in rows)]

    # -- export -----------------------------------------------------------------------------

    def filter_export(self, queryset: QuerySet[Rule], **kwargs: Any) -> QuerySet[Rule]:
        if isinstance(queryset, QuerySet):
            return queryset.prefetch_related("media")
        return queryset


# --- reading and writing workbooks ---------------------------------------------------------


def _read_bytes(file: BinaryIO | bytes | str | os.PathLike[str]) -> bytes:
    """The file's bytes; never more than RULES_IMPORT_MAX_FILE_BYTES + 1 (workbook_check refuses those)."""
    if isinstance(file, bytes | bytearray):
        return bytes(file)
    limit = import_limit("RULES_IMPORT_MAX_FILE_BYTES", 10 * 1024 * 1024)
    if isinstance(file, str | os.PathLike):
        with Path(file).open("rb") as fh:
            return fh.read(limit + 1) if limit else fh.read()
    data = file.read(limit + 1) if limit else file.read()
    return data.encode() if isinstance(data, str) else data


@dataclass(frozen=True)
class WorkbookSize:
    """What workbook_check measured: the file, its uncompressed size, and the largest sheet's rows (header
    included) and columns as the reader would yield them."""

    file_bytes: int
    uncompressed_bytes: int
    rows: int
    columns: int


def import_limit(name: str, default: int) -> int:
    """A RULES_IMPORT_* limit from the settings (0 = no limit)."""
    return max(int(getattr(settings, name, default) or 0), 0)


_SHEET_MEMBER = re.compile(r"^xl/worksheets/[^/]+\.xml$")
_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\b([^>]*)>")
_ROW_NUMBER = re.compile(rb"\br\s*=\s*[\"'](\d{1,9})[\"']")
_CELL_REF = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c\b[^>]*?\br\s*=\s*[\"']\$?([A-Za-z]{1,7})\$?\d")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\bref\s*=\s*[\"']([^\"']{1,64})[\"']")
_DIMENSION_END = re.compile(rb"[A-Za-z]{1,7}\$?(\d{1,9})$")
_SCAN_CHUNK = 1024 * 1024
_SCAN_TAIL = 8192


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + (letter - 64)
    return number


def _sheet_extent(book: zipfile.ZipFile, info: zipfile.ZipInfo, *, max_rows: int, max_columns: int) -> tuple[int, int]:
    """(rows, columns) the sheet would yield: the highest of the declared dimension, the row numbers and count,
    and the cell references, read in bounded chunks; stops early once past a limit."""
    rows = columns = counted = 0
    tail = b""
    with book.open(info) as stream:
        while chunk := stream.read(_SCAN_CHUNK):
            buffer = tail + chunk
            end = 0
            for match in _DIMENSION.finditer(buffer):
                ref = match.group(1).split(b":")[-1]
                if found := _DIMENSION_END.search(ref):
                    rows = max(rows, int(found.group(1)))
                columns = max(columns, _column_number(re.sub(rb"[^A-Za-z]", b"", ref)))
                end = max(end, match.end())
            for match in _ROW_TAG.finditer(buffer):
                counted += 1
                number = _ROW_NUMBER.search(match.group(1))
                rows = max(rows, counted, int(number.group(1)) if number else 0)
                end = max(end, match.end())
            for match in _CELL_REF.finditer(buffer):
                columns = max(columns, _column_number(match.group(1)))
                end = max(end, match.end())
            tail = buffer[max(end, len(buffer) - _SCAN_TAIL) :]
            if (max_rows and rows > max_rows) or (max_columns and columns > max_columns):
                break
    return rows, columns


def workbook_check(data: bytes) -> WorkbookSize:
    """Measure an .xlsx before parsing it; InvalidWorkbook if it is not one, WorkbookTooLarge (naming the limit
    and its setting) if it is over a RULES_IMPORT_MAX_* limit. Reads at most the limits' worth of XML."""
    if not data.startswith(b"PK"):
        raise InvalidWorkbook(_("The file is not an Excel workbook (.xlsx). Save it as .xlsx and try again."))
    max_file = import_limit("RULES_IMPORT_MAX_FILE_BYTES", 10 * 1024 * 1024)
    if max_file and len(data) > max_file:
        raise WorkbookTooLarge(
            _("The file is %(size)s; the limit is %(limit)s (RULES_IMPORT_MAX_FILE_BYTES).")
            % {"size": _megabytes(len(data)), "limit": _megabytes(max_file)}
        )
    max_total = import_limit("RULES_IMPORT_MAX_UNCOMPRESSED_BYTES", 50 * 1024 * 1024)
    max_ratio = import_limit("RULES_IMPORT_MAX_COMPRESSION_RATIO", 100)
    max_rows = import_limit("RULES_IMPORT_MAX_ROWS", 10_000)
    max_columns = import_limit("RULES_IMPORT_MAX_COLUMNS", 100)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            members = book.infolist()
            total = sum(info.file_size for info in members)
            if max_total and total > max_total:
                raise WorkbookTooLarge(
                    _(
                        "Unpacked, the workbook is %(size)s; the limit is %(limit)s "
                        "(RULES_IMPORT_MAX_UNCOMPRESSED_BYTES). Remove other sheets, images or formatting."
                    )
                    % {"size": _megabytes(total), "limit": _megabytes(max_total)}
                )
            for info in members:
                ratio = info.file_size / max(info.compress_size, 1)
                if max_ratio and info.file_size > 1024 * 1024 and ratio > max_ratio:
                    raise WorkbookTooLarge(
                        _(
                            "Part %(part)s of the workbook unpacks %(ratio)d times larger than it is stored; the "
                            "limit is %(limit)d (RULES_IMPORT_MAX_COMPRESSION_RATIO). The file looks made to "
                            "exhaust the server; save the rules in a new workbook."
                        )
                        % {"part": info.filename[:100], "ratio": int(ratio), "limit": max_ratio}
                    )
            rows = columns = 0
            for info in members:
                if _SHEET_MEMBER.match(info.filename):
                    sheet_rows, sheet_columns = _sheet_extent(
                        book, info, max_rows=max_rows + 1 if max_rows else 0, max_columns=max_columns
                    )
                    rows, columns = max(rows, sheet_rows), max(columns, sheet_columns)
    except InvalidWorkbook:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        logger.info("unreadable rules workbook (zip): %r", exc)
        raise InvalidWorkbook(
            _("The file could not be read as an Excel workbook (.xlsx); it may be damaged. Save it again as .xlsx.")
        ) from exc
    if max_rows and rows - 1 > max_rows:
        raise WorkbookTooLarge(
            _(
                "The sheet has more than %(limit)d rows below the header (row %(rows)d is used); the limit is "
                "%(limit)d (RULES_IMPORT_MAX_ROWS). Split the file or delete the empty rows at the end."
            )
            % {"rows": rows, "limit": max_rows}
        )
    if max_columns and columns > max_columns:
        raise WorkbookTooLarge(
            _(
                "The sheet uses %(columns)d columns; the limit is %(limit)d (RULES_IMPORT_MAX_COLUMNS). "
                "Delete the columns that are not rule columns."
            )
            % {"columns": columns, "limit": max_columns}
        )
    return WorkbookSize(file_bytes=len(data), uncompressed_bytes=total, rows=rows, columns=columns)


def _megabytes(size: int) -> str:
    """A size for people: "12.5 MB", or "20 KB" below a megabyte."""
    if size >= 1024 * 1024:
        return _("%(size).1f MB") % {"size": size / (1024 * 1024)}
    return _("%(size)d KB") % {"size": -(-size // 1024)}


def read_workbook(data: bytes) -> tablib.Dataset:
    """The first sheet of an .xlsx as a dataset (header row -> headers), as the admin import reads it.

    Raises InvalidWorkbook for anything that is not a readable .xlsx (CSV, .xls, a damaged file...) and
    WorkbookTooLarge for one over the limits (workbook_check), before parsing it.
    """
    workbook_check(data)
    try:
        return XLSX().create_dataset(data)
    except StopIteration:  # a sheet without a single row
        return tablib.Dataset()
    except Exception as exc:  # openpyxl/zipfile raise many kinds of errors on a damaged file
        logger.info("unreadable rules workbook: %r", exc)
        raise InvalidWorkbook(
            _("The file could not be read as an Excel workbook (.xlsx); it may be damaged. Save it again as .xlsx.")
        ) from exc


def workbook_bytes(dataset: tablib.Dataset, *, title: str = "rules") -> bytes:
    """An .xlsx of ``dataset``: bold header, frozen first row, texts kept as texts (never formulas)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append(list(dataset.headers or []))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(str(h)) for h in dataset.headers or []]
    for values in dataset:
        row = [ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in values]
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # "=..." is text here, not a formula
                cell.data_type = "s"
        for i, value in enumerate(row):
            longest = max((len(line) for line in str(value if value is not None else "").splitlines()), default=0)
            widths[i] = max(widths[i], longest)
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- services ------------------------------------------------------------------------------


def rules_import(
    *,
    file: BinaryIO | bytes | str | os.PathLike[str],
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import rules from an .xlsx (a path, bytes or a binary file), all or nothing.

    Rows are matched by key (see the module docstring). Any error -> nothing is
    written and ``errors`` says where; ``dry_run`` -> everything is checked and
    counted, nothing is written. A workbook over the limits (workbook_check) is
    an error before it is parsed. ``progress(rows_done, rows_total)`` is called
    after every row.
    """
    report = ImportReport(dry_run=dry_run)
    try:
        dataset = read_workbook(_read_bytes(file))
    except InvalidWorkbook as exc:
        report.errors.append(RowError(None, "", str(exc)))
        return report
    resource = RuleResource()
    resource.progress = progress
    result = resource.import_data(dataset, dry_run=dry_run, raise_errors=False)
    report.created = result.totals.get("new", 0)
    report.updated = result.totals.get("update", 0)
    report.unchanged = result.totals.get("skip", 0)
    for base in result.base_errors:
        if isinstance(base.error, RuleFileError):
            report.errors.extend(base.error.errors)
        else:
            report.errors.append(RowError(None, "", str(base.error)))
    report.errors.extend(resource.row_errors)
    for failed in result.error_rows:
        for error in failed.errors:
            report.errors.append(RowError(failed.number, "", str(error.error)))
    report.errors.sort(key=lambda e: e.row or 0)
    report.warnings = resource.warnings()
    return report


def rules_export(*, queryset: Iterable[Rule] | None = None) -> bytes:
    """The rules (all by default) as an .xlsx with the English column names, by step, priority and id."""
    rules = Rule.objects.all() if queryset is None else queryset
    if isinstance(rules, QuerySet):
        rules = rules.order_by("step", "priority", "id").prefetch_related("media")
    dataset = RuleResource().export(queryset=rules)
    return workbook_bytes(dataset)
