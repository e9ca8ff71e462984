"""Product references (SKUs) in catalog text. Pure: no Django, no I/O.

The default pattern finds a code introduced by a reference keyword:
"REF: GR-NEG-200", "Ref. 4410", "SKU 12345", "Cód. MS-001", "Código: AB/12", "Referencia: CZ-BL-01",
"Ref. Nº 778". A code is letters/digits joined by "-", "." or "/" and must contain a digit or a hyphen,
so "Referencia del producto" or "Código de colores" capture nothing. Codes are returned upper-cased.

A custom pattern (settings.AI_SKU_PATTERN) is compiled as written (add "(?i)" for case-insensitivity);
its named group "sku", else its first group, else the whole match is the code.
"""

from __future__ import annotations

import re
from functools import lru_cache

_KEYWORD = r"(?:ref(?:erencia)?|sku|c[oó]d(?:igo)?|codigo)"
_CODE = r"[A-Z0-9]+(?:[-./][A-Z0-9]+)*"

DEFAULT_SKU_PATTERN = (
    r"(?i)(?<![^\W_])"  # keyword starts a word
    + _KEYWORD
    + r"(?![^\W\d_])"  # ...and is not the start of a longer word ("Refrigerador", "Codo")
    + r"\.?\s*(?:n[º°o]\.?\s*)?[:#=\-\u2013]?\s*"  # "Ref.", "Ref:", "Cód. Nº", "SKU #", "Ref -"
    + r"(?P<sku>(?=[A-Z0-9./-]*[0-9-])"  # a code needs a digit or a hyphen
    + _CODE
    + r")(?![A-Z0-9])"
)


_DIGIT_OR_HYPHEN = re.compile(r"[0-9-]")


@lru_cache(maxsize=32)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _code(match: re.Match[str]) -> str:
    if "sku" in match.re.groupindex:
        value = match.group("sku")
    elif match.re.groups:
        value = match.group(1)
    else:
        value = match.group(0)
    return (value or "").strip().strip(".-/").upper()


def extract_skus(text: str, pattern: str = DEFAULT_SKU_PATTERN) -> list[str]:
    """The SKU codes in `text`, in order of first appearance, without duplicates."""
    if not text:
        return []
    pattern = pattern or DEFAULT_SKU_PATTERN
    seen: dict[str, None] = {}
    for match in _compiled(pattern).finditer(text):
        code = _code(match)
        if pattern == DEFAULT_SKU_PATTERN and not _DIGIT_OR_HYPHEN.search(code):
            continue  # "Ref: ABC- x": the lookahead saw a trailing hyphen, not one inside the code
        if code and len(code) <= 64:
            seen.setdefault(code, None)
    return list(seen)


def has_sku(line: str, pattern: str = DEFAULT_SKU_PATTERN) -> bool:
    return bool(extract_skus(line, pattern))
