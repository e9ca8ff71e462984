"""Everything the app says is in Spanish: the catalog has no untranslated or fuzzy entry, and every string the
code and templates mark for translation (as ``makemessages`` finds them) has a Spanish translation, either in
locale/es or in the catalog of the library that owns it (Django's admin, import-export)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"
SOURCES = ("accounts", "conversations", "flows", "catalog_ai", "analytics", "whatsapp_ia", "templates")
# Spanish spells these the same as English.
SAME_IN_SPANISH = {"WhatsApp IA", "Bot", "Roles", "Chat", "Chats", "Error", "Email", "Audio", "Video", "Sticker"}


@dataclass
class Entry:
    msgid: str
    msgid_plural: str = ""
    msgstr: list[str] = field(default_factory=list)
    fuzzy: bool = False
    references: list[str] = field(default_factory=list)


def _unquote(line: str) -> str:
    return bytes(line.strip()[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def parse_po(text: str) -> list[Entry]:
    """The live entries of a .po file (obsolete "#~" ones skipped); enough of the format for these checks."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: str | None = None
    flags: list[str] = []
    references: list[str] = []
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if not line or line.startswith("#~"):
            if current is not None:
                entries.append(current)
                current, target = None, None
            continue
        if line.startswith("#,"):
            flags += [flag.strip() for flag in line[2:].split(",")]
        elif line.startswith("#:"):
            references += line[2:].split()
        elif line.startswith("#"):
            continue
        elif line.startswith("msgid_plural "):
            current.msgid_plural = _unquote(line[len("msgid_plural ") :])
            target = "msgid_plural"
        elif line.startswith("msgid "):
            current = Entry(msgid=_unquote(line[len("msgid ") :]), fuzzy="fuzzy" in flags, references=references)
            flags, references, target = [], [], "msgid"
        elif line.startswith("msgstr"):
            current.msgstr.append(_unquote(line.split(" ", 1)[1]))
            target = "msgstr"
        elif line.startswith('"') and current is not None:
            if target == "msgid":
                current.msgid += _unquote(line)
            elif target == "msgid_plural":
                current.msgid_plural += _unquote(line)
            else:
                current.msgstr[-1] += _unquote(line)
    return [entry for entry in entries if entry.msgid]  # the header has an empty msgid


def used_entries(tmp_path: Path) -> list[Entry]:
    """The strings makemessages extracts from the project's code and templates, with their locations."""
    for name in SOURCES:
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "locale").mkdir()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with override_settings(LOCALE_PATHS=[str(tmp_path / "locale")]):
            call_command(
                "makemessages", locale=["es"], symlinks=True, ignore_patterns=["tests", "migrations"], verbosity=0
            )
    finally:
        os.chdir(cwd)
    return parse_po((tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8"))


def test_the_spanish_catalog_has_no_untranslated_or_fuzzy_entry() -> None:
    entries = parse_po(CATALOG.read_text(encoding="utf-8"))
    assert len(entries) > 500  # the parser read the catalog
    assert [e.msgid for e in entries if e.fuzzy] == []
    assert [e.msgid for e in entries if not all(s.strip() for s in e.msgstr)] == []


def test_the_spanish_catalog_has_each_message_once() -> None:
    seen: dict[str, int] = {}
    for entry in parse_po(CATALOG.read_text(encoding="utf-8")):
        seen[entry.msgid] = seen.get(entry.msgid, 0) + 1
    assert sorted(msgid for msgid, count in seen.items() if count > 1) == []


def test_every_string_the_app_uses_is_translated_to_spanish(tmp_path: Path) -> None:
    ours = {e.msgid: e for e in parse_po(CATALOG.read_text(encoding="utf-8"))}
    used = used_entries(tmp_path)
    assert len(used) > 500  # makemessages found the project's strings
    missing = []
    with translation.override("es"):
        for entry in used:
            if entry.msgid in ours or entry.msgid in SAME_IN_SPANISH:
                continue
            if entry.msgid_plural:
                translated = translation.ngettext(entry.msgid, entry.msgid_plural, 2) != entry.msgid_plural
            else:
                translated = translation.gettext(entry.msgid) != entry.msgid
            if not translated:  # not ours, and no library's catalog has it either
                missing.append(f"{entry.msgid!r} ({', '.join(entry.references[:2])})")
    assert missing == [], "\n".join(missing)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('msgid "a"\nmsgstr "b"\n', [("a", ["b"], False)]),
        ('#, fuzzy\nmsgid "a"\nmsgstr "b"\n', [("a", ["b"], True)]),
        ('msgid ""\n"x "\n"y"\nmsgstr ""\n"z"\n', [("x y", ["z"], False)]),
        ('#~ msgid "old"\n#~ msgstr "viejo"\n\nmsgid "n"\nmsgstr ""\n', [("n", [""], False)]),
        ('msgid "one"\nmsgid_plural "many"\nmsgstr[0] "uno"\nmsgstr[1] ""\n', [("one", ["uno", ""], False)]),
        ('msgid "tilde \\"ñ\\""\nmsgstr "eñe"\n', [('tilde "ñ"', ["eñe"], False)]),
    ],
)
def test_the_po_parser(text: str, expected: list[tuple[str, list[str], bool]]) -> None:
    assert [(e.msgid, e.msgstr, e.fuzzy) for e in parse_po(text)] == expected
