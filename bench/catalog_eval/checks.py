"""Checks on one answer of the catalog AI, as bench/catalog_quality.py scores them. Pure: no Django, no I/O.

- numbers_uncited(answer, cited_texts): numbers of the answer found in none of the cited texts.
- foreign_labels(answer, lang): labels of the other language ("Price" in a Spanish answer, "Precio:" in an
  English one), the assembly error of issue 14 ("... por mesón — Price $180.000.").
- holes(answer): places where a value was cut out of its sentence (": .", "costo de por mesón", "$ ,").
- answer_language(answer, cited_texts): 'es', 'en' or '' (cannot tell: too few words, e.g. "Ref. GC-01 —
  $289.900"); the answerer's own words decide, not the catalog sentences it quotes.
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


# "Envíos y entregas. propio: el envío ...": a sentence that starts in lower case was cut off at its start
# (a word before the full stop that is one letter or an abbreviation, "12:00 m. salen", does not count).
_LOWER_START = re.compile(r"(\w+)\.\s+([a-záéíóúñ]\w*)")
_ABBREVIATIONS = frozenset(
    ["etc", "ref", "cod", "cód", "aprox", "av", "cra", "cl", "no", "nº", "núm", "num", "tel", "vol", "ej", "pág", "pag"]
)


def holes(answer: str) -> list[str]:
    """Fragments of `answer` where a value seems to have been cut out, or a sentence cut at its start."""
    text = _MERIDIEM.sub(r"\1m", answer or "")  # "6:00 p. m.;" is not a hole
    found = []
    for pattern in _HOLES:
        found += [m.group(0) for m in pattern.finditer(text)]
    for m in _LOWER_START.finditer(text):
        word = m.group(1).lower()
        if len(word) > 1 and word not in _ABBREVIATIONS:
            found.append(m.group(0))
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


_SEGMENT = re.compile(r"(?<=[.!?:;])\s+|\s+[\u2014\u2013-]\s+|\n+")


def _language_of(text: str) -> str:
    words = _WORD.findall(normalize(text or "").replace("'", " "))
    es_words = {normalize(w) for w in _ES_WORDS}
    es = sum(w in es_words for w in words)
    en = sum(w in _EN_WORDS for w in words)
    if es == en:
        return ""
    return "es" if es > en else "en"


def own_words(answer: str, cited_texts: list[str]) -> str:
    """The answer without the parts it quotes from `cited_texts` (sentences, lines or "—"-separated pieces
    found there whole): what the answerer itself wrote ("From our catalog:", "Price: $289.900")."""
    cited = normalize(" ".join(cited_texts))
    kept = []
    for segment in _SEGMENT.split(answer or ""):
        piece = normalize(segment).strip(" .,;:!?")
        if piece and not (len(piece) >= 8 and piece in cited):
            kept.append(segment)
    return " ".join(kept)


def answer_language(answer: str, cited_texts: list[str] | None = None) -> str:
    """'es' or 'en' by which language's common words the answer uses more; '' on a tie (e.g. none at all).

    With `cited_texts`, the words the answerer wrote itself decide (a Spanish catalog sentence quoted in an
    English answer is the catalog's, not a language error); when it wrote nothing telling, the whole answer
    decides (an English question answered with Spanish quotes alone reads as Spanish)."""
    if cited_texts:
        own = _language_of(own_words(answer, cited_texts))
        if own:
            return own
    return _language_of(answer)
