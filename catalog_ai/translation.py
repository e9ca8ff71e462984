"""A question's words in the catalog's language, from Apertium's bilingual dictionaries (offline).

An English question meets a Spanish catalog ("How much is the mirror with LED light?" for
"Espejo con luz LED ... $189.900"): the dense embedder finds the page across languages, but the
words the lexical index and the extractive answer weigh are the catalog's own. This module gives,
for each word of a question, its translations into the catalog's language, every sense the
dictionary knows ("tank" -> "tanque", "depósito"; "drain" -> "desagüe", "drenar"), for
:meth:`catalog_ai.lexical.LexicalIndex.query_tokens` to look for beside the word itself.

How: Apertium's lttoolbox (`lt-proc`) analyses the words with the pair's morphological analyser
("tanks" -> tank<n><pl>) and looks each lemma up in the pair's bilingual dictionary, both compiled
files of the Debian package of the pair (``apertium-eng-spa``: English <-> Spanish), found under
``settings.AI_TRANSLATION_DIR`` (default ``/usr/share/apertium``). No sentence is translated: a
word's senses are what the lexical side needs, and the dictionary's every sense is looked for
(the one the catalog uses is the one it contains).

Absent dictionaries (the package is optional) mean no translations: the search and the answer
work as before, and :func:`status` says so. Only alphabetic words reach the subprocess (Apertium's
stream format reserves ``^$/<>@*#[]\\``), each call has a time limit, and answers are cached per word.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext

from whatsapp_ia.text import normalize_text

__all__ = [
    "LANGUAGE_CODES",
    "MAX_WORDS",
    "TIMEOUT_SECONDS",
    "parse_stream",
    "status",
    "translate_words",
    "unavailable_for",
    "words_for",
]

logger = logging.getLogger(__name__)

#: Our two-letter codes -> Apertium's three-letter ones.
LANGUAGE_CODES = {"es": "spa", "en": "eng"}
#: A question's words looked up at most (a long message is not a catalog question word by word).
MAX_WORDS = 40
TIMEOUT_SECONDS = 2.0
#: Parts of speech whose translations are looked for: nouns, adjectives, proper nouns (days, places) and adverbs
#: ("free" as in "free shipping" is an adverb to the dictionary: "gratis"). A verb's senses are many and far apart
#: ("turns" -> girar, "hands" -> entregar); a catalog names things.
_KEEP = re.compile(r"^<(?:n|adj|np|adv)>")
_WORD = re.compile(r"[^\W\d_]{2,}")
_UNIT = re.compile(r"\^(.*?)(?<!\\)\$", re.S)
_CACHE_LIMIT = 20000

_cache: dict[tuple[str, str, str], tuple[str, ...]] = {}
_lock = threading.Lock()
_warned: set[str] = set()


def _files(source: str, target: str) -> tuple[Path, Path] | None:
    """(morphological analyser of ``source``, bilingual dictionary source -> target), or None when absent."""
    src, tgt = LANGUAGE_CODES.get(source), LANGUAGE_CODES.get(target)
    if not src or not tgt or src == tgt:
        return None
    configured = str(getattr(settings, "AI_TRANSLATION_DIR", "") or "").strip()
    if not configured:  # empty: no lookups (not the current directory)
        return None
    root = Path(configured)
    if not root.is_dir():
        return None
    for folder in (root / f"apertium-{src}-{tgt}", root / f"apertium-{tgt}-{src}"):
        analyser, dictionary = folder / f"{src}-{tgt}.automorf.bin", folder / f"{src}-{tgt}.autobil.bin"
        if analyser.is_file() and dictionary.is_file():
            return analyser, dictionary
    return None


def _lt_proc() -> str | None:
    return shutil.which("lt-proc")


def status(source: str = "en", target: str = "es") -> str:
    """Why words of ``source`` cannot be looked up in ``target`` ("" when they can), for the AI settings page."""
    if _lt_proc() is None:
        return gettext("lt-proc is not installed (Debian package lttoolbox)")
    if _files(source, target) is None:
        src, tgt = LANGUAGE_CODES.get(source, source), LANGUAGE_CODES.get(target, target)
        return gettext("no %(pair)s dictionary in %(folder)s (Debian package %(package)s)") % {
            "pair": f"{src}-{tgt}",
            "folder": getattr(settings, "AI_TRANSLATION_DIR", "") or "-",
            "package": f"apertium-{src}-{tgt}",
        }
    return ""


def parse_stream(text: str) -> list[tuple[str, list[str]]]:
    """Apertium stream units ``^surface/reading1/reading2$`` as (surface, readings); unknown readings ("*word",
    "@word", "#word") are dropped. Pure."""
    out = []
    for unit in _UNIT.findall(text or ""):
        parts = re.split(r"(?<!\\)/", unit)
        readings = [p for p in parts[1:] if p and p[0] not in "*@#"]
        out.append((parts[0], readings))
    return out


class _Coprocess:
    """One long-lived ``lt-proc -z`` (null-flush mode: each request ends with NUL and is answered at once), per
    process that uses it (a forked worker starts its own), so a lookup costs a pipe round trip instead of a
    start-up that loads the dictionary. A request that fails or outlives TIMEOUT_SECONDS kills it; the next
    one starts it again. It exits with us: its input is our pipe."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.lock = threading.Lock()

    def ask(self, text: str) -> str:
        with self.lock:
            if self.proc is not None and self.pid != os.getpid():
                # Forked: the process is our parent's. Let go of our copies of its pipes (so it still ends
                # when the parent does) without killing it.
                for pipe in (self.proc.stdin, self.proc.stdout):
                    if pipe is not None:
                        pipe.close()
                self.proc = None
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen(  # noqa: S603 - fixed binary and arguments we built
                    self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
                )
                self.pid = os.getpid()
            proc = self.proc
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(text.replace("\0", "").encode() + b"\n\0")
                proc.stdin.flush()
                out = b""
                deadline = time.monotonic() + TIMEOUT_SECONDS
                while not out.endswith(b"\0"):
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                        raise subprocess.TimeoutExpired(self.args, TIMEOUT_SECONDS)
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        raise subprocess.SubprocessError(f"lt-proc exited ({proc.poll()})")
                    out += chunk
                return out[:-1].decode("utf-8", "replace")
            except BaseException:
                proc.kill()
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    proc.wait(timeout=1)  # reaped, not left a zombie
                self.proc = None
                raise


_coprocesses: dict[tuple[str, ...], _Coprocess] = {}


def _run(binary: str, args: list[str], stdin: str) -> str:
    key = (binary, "-z", *args)
    with _lock:
        coprocess = _coprocesses.get(key) or _coprocesses.setdefault(key, _Coprocess(list(key)))
    return coprocess.ask(stdin)


def _lookup(words: list[str], source: str, target: str) -> dict[str, tuple[str, ...]] | None:
    files = _files(source, target)
    binary = _lt_proc()
    if files is None or binary is None:
        return None
    analyser, dictionary = files
    # " ." after each word: a sentence of its own, so no two words are read as one multi-word unit. Each word
    # also capitalised: the dictionary spells days and months so ("saturday" is only found as "Saturday").
    forms = [form for w in words for form in dict.fromkeys((w, w.capitalize()))]
    analysed = parse_stream(_run(binary, ["-w", str(analyser)], "".join(f"{form} .\n" for form in forms)))
    readings: list[tuple[str, str]] = []
    for surface, options in analysed:
        word = surface.casefold()
        if word in words:
            for reading in options:
                tags = reading[reading.find("<") :] if "<" in reading else ""
                if _KEEP.match(tags):
                    readings.append((word, reading))
    found: dict[str, list[str]] = {w: [] for w in words}
    if readings:
        translated = parse_stream(_run(binary, ["-b", str(dictionary)], " ".join(f"^{r}$" for _w, r in readings)))
        for (word, _reading), (_surface, options) in zip(readings, translated, strict=False):
            for option in options:
                lemma = option.split("<", 1)[0].replace("\\", "").replace("#", " ").strip()
                if lemma and lemma.casefold() != word and lemma not in found[word]:
                    found[word].append(lemma)
    return {w: tuple(t) for w, t in found.items()}


def translate_words(words: Iterable[str], source: str, target: str) -> dict[str, tuple[str, ...]]:
    """Each alphabetic word (lower-cased) -> its translations into ``target`` (lemmas, every sense; empty when the
    dictionary does not know it). {} when no dictionary is installed or the lookup fails (logged once)."""
    wanted = list(dict.fromkeys(w.casefold() for w in words if _WORD.fullmatch(w or "")))[:MAX_WORDS]
    if not wanted or source == target:
        return {}
    with _lock:
        known = {w: _cache[(source, target, w)] for w in wanted if (source, target, w) in _cache}
    missing = [w for w in wanted if w not in known]
    if missing:
        try:
            looked_up = _lookup(missing, source, target)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            key = f"{source}-{target}"  # once per direction: a broken dictionary fails one way or another
            if key not in _warned:
                _warned.add(key)
                logger.warning("Word lookup %s->%s failed (%s): questions are searched as written", source, target, exc)
            looked_up = None
        if looked_up is None:
            return {w: t for w, t in known.items() if t}
        with _lock:
            if len(_cache) > _CACHE_LIMIT:
                _cache.clear()
            for w, t in looked_up.items():
                _cache[(source, target, w)] = t
        known.update(looked_up)
    return {w: t for w, t in known.items() if t}


def _foreign_language(question: str, catalog_language: str) -> str | None:
    """The language ``question`` is written in when it is another one than the catalog's, else None."""
    from catalog_ai.prompting import guess_language

    language = guess_language(question)
    return None if language == catalog_language or language not in LANGUAGE_CODES else language


def words_for(question: str, catalog_language: str) -> Mapping[str, tuple[str, ...]]:
    """The translations of ``question``'s words into ``catalog_language`` when the question is written in another
    language ({} when it is in the catalog's, or nothing can be looked up)."""
    language = _foreign_language(question, catalog_language)
    if language is None:
        return {}
    from catalog_ai.lexical import STOPWORDS

    words = [w for w in _WORD.findall(question or "") if normalize_text(w) not in STOPWORDS]
    return translate_words(words, language, catalog_language)


def unavailable_for(question: str, catalog_language: str) -> str:
    """Why ``question``'s words cannot be looked up in the catalog's language ("" when they can, or when the
    question is in the catalog's language): for the AI settings page's explanation."""
    language = _foreign_language(question, catalog_language)
    return "" if language is None else status(language, catalog_language)
