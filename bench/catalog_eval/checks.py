"""Checks on one answer of the catalog AI, as bench/catalog_quality.py scores them. Pure: no Django, no I/O.

- numbers_uncited(answer, cited_texts): numbers of the answer found in none of the cited texts.
- foreign_labels(answer, lang): labels of the other language ("Price" in a Spanish answer, "Precio:" in an
  English one), the assembly error of issue 14 ("... por mesón — Price $180.000.").
- holes(answer): places where a value was cut out of its sentence (": .", "costo de por mesón", "$ ,").
- answer_language(answer): 'es', 'en' or '' (cannot tell: too few words, e.g. "Ref. GC-01 — $289.900").
"""

from __future__ import annotations

import re

from bench.catalog_eval.facts import normalize

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-zñ]+")
_MERIDIEM = re.compile(r"\b([ap])\.\s?m\.")


def numbers(text: str) -> set[str]:
    """The numbers of `text` after normalisation ("$1.250.000" -> "1250000", "4,8" stays "4,8")."""
    return {n.rstrip(".,") for n in _NUMBER.findall(normalize(text))}


def numbers_uncited(answer: str, cited_texts: list[str]) -> list[str]:
    """Numbers in `answer` that none of `cited_texts` contains (as whole numbers, not digits inside others)."""
    cited: set[str] = set()
    for text in cited_texts:
        cited |= numbers(text)
    return sorted(numbers(answer) - cited)


# Labels a reader sees as a field name. English ones in a Spanish answer are errors wherever they appear;
# Spanish ones in an English answer only count when used as a label (before ":" or a value).
_EN_LABELS = re.compile(r"(?i)\b(price|prices|reference|size|warranty|dimensions|measures|page|pages|cost)\b")
_ES_LABELS = re.compile(
    r"(?i)\b(precio|referencia|medidas|garant[ií]a|p[aá]gina|valor|c[oó]digo|costo)\b\s*(?::|\$|\d)"
)


def foreign_labels(answer: str, lang: str) -> list[str]:
    """Labels of the other language in an answer to a question in `lang` ('es' or 'en')."""
    pattern = _EN_LABELS if lang == "es" else _ES_LABELS
    return [m.group(1) for m in pattern.finditer(answer or "")]


_HOLES = (
    re.compile(r"[:$#]\s*[.,;)]"),  # "por metro cuadrado: ." / "$ ," / "Calle 145 #."
    re.compile(r"(?i)\b(?:de|del|por|en|con|desde|hasta|entre|of|for|at|from)\s+(?:de|del|por|en|con|of|for|at)\b"),
    re.compile(r"(?i)\b(?:de|del|por|con|desde|hasta|entre|un|una|el|la|los|las|of|for|from|the|a)\s*[.,;:!?](?!\w)"),
    re.compile(r"\(\s*\)"),
    re.compile(r"[,;:]\s*[.,;:]|\.\s*[,;:]"),
)


def holes(answer: str) -> list[str]:
    """Fragments of `answer` where a value seems to have been cut out."""
    text = _MERIDIEM.sub(r"\1m", answer or "")  # "6:00 p. m.;" is not a hole
    found = []
    for pattern in _HOLES:
        found += [m.group(0) for m in pattern.finditer(text)]
    return found


_ES_WORDS = frozenset(
    [
        "el",
        "la",
        "los",
        "las",
        "de",
        "del",
        "en",
        "y",
        "que",
        "por",
        "para",
        "con",
        "un",
        "una",
        "es",
        "son",
        "tiene",
        "tienen",
        "precio",
        "cuesta",
        "vale",
        "se",
        "al",
        "su",
        "sus",
        "hasta",
        "desde",
        "incluye",
        "incluido",
        "días",
        "hábiles",
        "garantía",
        "envío",
        "entrega",
        "años",
        "sin",
        "también",
        "solo",
    ]
)
_EN_WORDS = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "for",
        "with",
        "is",
        "are",
        "it",
        "its",
        "costs",
        "cost",
        "price",
        "our",
        "we",
        "you",
        "your",
        "in",
        "on",
        "at",
        "from",
        "this",
        "that",
        "has",
        "have",
        "includes",
        "included",
        "days",
        "business",
        "warranty",
        "shipping",
        "delivery",
        "years",
        "without",
        "also",
        "only",
    ]
)


def answer_language(answer: str) -> str:
    """'es' or 'en' by which language's common words the answer uses more; '' on a tie (e.g. none at all)."""
    words = _WORD.findall(normalize(answer or "").replace("'", " "))
    es_words = {normalize(w) for w in _ES_WORDS}
    es = sum(w in es_words for w in words)
    en = sum(w in _EN_WORDS for w in words)
    if es == en:
        return ""
    return "es" if es > en else "en"
