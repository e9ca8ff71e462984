"""Text normalization shared by the rule engine, global commands and handlers.

Pure: no Django imports, no I/O.
"""

from __future__ import annotations

import unicodedata

__all__ = ["normalize_text", "slugify_option"]

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
    if category == "Mn" or category in ("Cf", "Cc", "Co", "Cn", "Cs"):
        # Combining marks (accents, emoji variation selectors) and invisible
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
    # Decompose before and after case folding: each can produce what the other changes
    # (mathematical capitals fold only once decomposed; "İ" folds to "i" + a combining dot).
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    out: list[str] = []
    previous = "s"
    for char in decomposed:
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


def slugify_option(title: str) -> str:
    """The id of an interactive option: its normalized title with spaces as "_".

    normalize_text() reads "_" as a word break, so the id of "Ver catálogo"
    ("ver_catalogo") normalizes back to the title's keyword ("ver catalogo").
    """
    return normalize_text(title).replace(" ", "_")
