"""Text folding for matching, shared by the rule engine, global commands, handlers and the AI's lexical search.

Pure: no Django imports, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["match_text", "normalize_text", "slugify_option"]

# Characters that vanish without leaving a word break: zero-width joiners and
# spaces, soft hyphens, bidi marks (category Cf), plus apostrophes so that
# "what's" and "whats" read the same.
_APOSTROPHES = frozenset("'\u2019\u2018`")


def _char_class(char: str) -> str:
    """'s' whitespace, 'p' punctuation, 'y' symbol (emoji, $, +...), 'w' word, '' dropped."""
    if char in _APOSTROPHES:
        return ""
    if char.isspace():
        return "s"
    category = unicodedata.category(char)
    if category in ("Mn", "Me") or category in ("Cf", "Cc", "Co", "Cn", "Cs"):
        # Combining marks (accents, emoji variation selectors, the keycap of "2️⃣") and invisible
        # format/control characters carry no meaning for matching.
        return ""
    if category.startswith("P"):
        return "p"
    if category.startswith("S"):
        return "y"
    return "w"


def normalize_text(text: str) -> str:
    """Fold text for keyword matching.

    Lower case (casefold), compatibility-decomposed (NFKD) with every diacritic
    dropped ("Ñandú" -> "nandu", "m²" -> "m2"), punctuation of any script
    (including ¿ ¡ « » … and "_") turned into word breaks, whitespace collapsed
    and stripped. Emoji and other symbols are kept, as words of their own
    ("hola😀" -> "hola 😀"), so a keyword may be an emoji.

    "¿Cuánto?" -> "cuanto"; "  Hola,   MUNDO!! " -> "hola mundo".
    The result is idempotent: normalize_text(normalize_text(x)) == normalize_text(x).
    """
    if not text:
        return ""
    return _fold(_decompose(text), {})


def _decompose(text: str) -> str:
    # Decompose before and after case folding: each can produce what the other changes
    # (mathematical capitals fold only once decomposed; "İ" folds to "i" + a combining dot).
    return unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())


def _fold(decomposed: str, joiners: dict[int, str]) -> str:
    """The folding loop; ``joiners`` maps positions of ``decomposed`` to a character kept inside the word."""
    out: list[str] = []
    previous = "s"
    for position, char in enumerate(decomposed):
        if position in joiners:
            out.append(joiners[position])
            previous = "w"
            continue
        kind = _char_class(char)
        if not kind:
            continue
        if kind in ("s", "p"):
            if previous != "s":
                out.append(" ")
            previous = "s"
            continue
        if previous not in ("s", kind):
            # A symbol next to a word (or the reverse) starts a new word.
            out.append(" ")
        out.append(char)
        previous = kind
    return "".join(out).strip()


# Inside a number, "," and "." are decimal or thousands separators ("2,4", "1.250"), and
# "x", the multiplication sign or "*" between two numbers make a measurement ("2 x 3", "2,4 X 0,6"): for keyword
# matching neither is a word break, so the menu keyword "2" never answers "2,4 x 0,6".
_NUMBER_JOINERS = re.compile(r"(?<=\d)(?:(?P<sep>[.,])|\s*(?P<times>[x\u00d7*])\s*)(?=\d)")


@lru_cache(maxsize=4096)
def match_text(text: str) -> str:
    """normalize_text() for keyword matching, keeping numbers and measurements whole.

    Memoized (pure): the rule engine folds every rule's keywords on every turn.

    "2,4 x 0,6 m" -> "2.4x0.6 m"; "1.250" -> "1.250"; "opción 2." -> "opcion 2".
    So a number keyword matches a whole number only, never part of a decimal or a measurement.
    Equal to normalize_text() for text without such numbers; idempotent.
    """
    if not text:
        return ""
    decomposed = _decompose(text)
    joiners: dict[int, str] = {}
    for found in _NUMBER_JOINERS.finditer(decomposed):
        if found.group("sep"):
            joiners[found.start("sep")] = "."
        else:
            # The spaces around the "x" vanish (they are not in ``joiners`` but are skipped below).
            joiners[found.start("times")] = "x"
            for position in range(found.start(), found.end()):
                joiners.setdefault(position, "")
    return _fold(decomposed, joiners)


def slugify_option(title: str) -> str:
    """The id of an interactive option: its normalized title with spaces as "_".

    normalize_text() reads "_" as a word break, so the id of "Ver catálogo"
    ("ver_catalogo") normalizes back to the title's keyword ("ver catalogo").
    """
    return normalize_text(title).replace(" ", "_")
