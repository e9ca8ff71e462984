"""SKU extraction: catalog reference styles, order and uniqueness, no false positives, custom patterns."""

from __future__ import annotations

import pytest

from catalog_ai.skus import DEFAULT_SKU_PATTERN, extract_skus, has_sku
from catalog_ai.tests.pdfs import CATALOG_PAGES, CATALOG_SKUS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mesón granito negro San Gabriel 200 x 60 cm — REF: GR-NEG-200 — $1.250.000", ["GR-NEG-200"]),
        ("SKU 12345", ["12345"]),
        ("Cód. MS-001", ["MS-001"]),
        ("Referencia: CZ-BL-01", ["CZ-BL-01"]),
        ("Código: ab/12", ["AB/12"]),
        ("Cod. 778-B", ["778-B"]),
        ("Ref. Nº 4410", ["4410"]),
        ("sku#a1", ["A1"]),
        ("ref gr-neg-200.", ["GR-NEG-200"]),
        ("REF: GR-NEG-200, REF: GR-BL-180 y de nuevo REF GR-NEG-200", ["GR-NEG-200", "GR-BL-180"]),
    ],
)
def test_reference_styles(text: str, expected: list[str]) -> None:
    assert extract_skus(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Referencia del producto en la etiqueta",
        "Código de colores disponible",
        "Refrigerador RF-200 de dos puertas",  # "Ref" inside a longer word
        "Codo PVC 2 pulgadas",
        "Precio: $1.250.000",
        "Referencia: ABC- y más",
        "",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert extract_skus(text) == []
    assert not has_sku(text)


def test_catalog_pages_give_their_skus_in_order() -> None:
    text = "\n".join(line for page in CATALOG_PAGES for line in page)
    assert extract_skus(text) == CATALOG_SKUS


def test_custom_pattern_named_group_first_group_or_whole_match() -> None:
    text = "Artículo A-1, artículo B-2; modelo Z9"
    assert extract_skus(text, r"(?i)art[ií]culo (?P<sku>[A-Z]-\d)") == ["A-1", "B-2"]
    assert extract_skus(text, r"(?i)modelo (\w+)") == ["Z9"]
    assert extract_skus(text, r"[A-Z]-\d") == ["A-1", "B-2"]
    assert extract_skus(text, "") == extract_skus(text, DEFAULT_SKU_PATTERN) == []
