"""How the evaluation compares an expected fact with an answer or a page. Pure: no Django, no I/O.

Both sides are normalised the same way: case, accents (NFKD, so "m²" reads "m2"), spacing, thousands
separators ("$1.250.000", "$ 1,250,000" and "$1250000" are one number; "1,5 m" keeps its comma), the
space after "$", and "a. m." / "p. m." written as "am" / "pm". A fact may list alternatives separated by
" || " (e.g. "3 a 5 días hábiles || 3 to 5 business days"): any one of them is enough.
"""

from __future__ import annotations

import re
import unicodedata

_THOUSANDS = re.compile(r"(?<=\d)[.,\u00a0 ](?=\d{3}(?!\d))")
_SPACES = re.compile(r"\s+")
_MERIDIEM = re.compile(r"\b([ap])\.?\s?m\b\.?")
ALTERNATIVES = " || "


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _SPACES.sub(" ", text)
    text = _THOUSANDS.sub("", text)
    text = text.replace("$ ", "$")
    text = _MERIDIEM.sub(r"\1m", text)
    return text.strip()


def alternatives(fact: str) -> list[str]:
    return [part.strip() for part in fact.split(ALTERNATIVES) if part.strip()]


def fact_in(fact: str, text: str) -> bool:
    """Whether one of the fact's alternatives appears in `text` (both normalised)."""
    haystack = normalize(text)
    return any(normalize(alt) in haystack for alt in alternatives(fact))


_WORD = re.compile(r"[a-z0-9ñ]+")
STOPWORDS = frozenset(
    [
        "a",
        "al",
        "algo",
        "alguna",
        "alguno",
        "como",
        "con",
        "cual",
        "cuál",
        "cuales",
        "cuanto",
        "cuanta",
        "cuantos",
        "cuantas",
        "de",
        "del",
        "donde",
        "el",
        "ella",
        "en",
        "es",
        "esta",
        "este",
        "esto",
        "hay",
        "la",
        "las",
        "le",
        "lo",
        "los",
        "me",
        "mi",
        "mis",
        "para",
        "pero",
        "por",
        "que",
        "qué",
        "se",
        "si",
        "sin",
        "son",
        "su",
        "sus",
        "tiene",
        "tienen",
        "un",
        "una",
        "uno",
        "unos",
        "y",
        "o",
        "ya",
        "yo",
        "tu",
        "te",
        "the",
        "a",
        "an",
        "of",
        "for",
        "to",
        "in",
        "on",
        "is",
        "are",
        "do",
        "does",
        "you",
        "your",
        "i",
        "my",
        "what",
        "how",
        "much",
        "many",
        "which",
        "with",
        "it",
        "this",
        "that",
        "and",
        "or",
        "can",
    ]
)


def content_words(text: str) -> set[str]:
    """Words of `text` (normalised, accents off) minus short stopwords: for the word-overlap figure."""
    return {w for w in _WORD.findall(normalize(text)) if w not in STOPWORDS and len(w) > 1}


def word_overlap(question: str, page: str) -> float:
    """Share of the question's content words that appear on the page (1.0 = every word is there)."""
    words = content_words(question)
    if not words:
        return 0.0
    return len(words & content_words(page)) / len(words)
