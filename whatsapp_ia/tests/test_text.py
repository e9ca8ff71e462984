"""normalize_text and slugify_option: pure, no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_ia.text import match_text, normalize_text, slugify_option


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Spanish accents and case
        ("¿Cuánto?", "cuanto"),
        ("CUÁNTO", "cuanto"),
        ("Menú", "menu"),
        ("Ñandú", "nandu"),
        ("pingüino", "pinguino"),
        ("Árbol ÉXITO íntimo ÓPERA último", "arbol exito intimo opera ultimo"),
        # punctuation (ASCII and unicode) becomes a word break
        ("  Hola,   MUNDO!! ", "hola mundo"),
        ("¡Hola!", "hola"),
        ("«Sí» … claro", "si claro"),
        ("hola,precio", "hola precio"),
        ("ver_catalogo", "ver catalogo"),
        ("e-mail", "e mail"),
        ("2.4x0.6", "2 4x0 6"),
        # apostrophes vanish instead of splitting the word
        ("what's", "whats"),
        ("what\u2019s", "whats"),
        # whitespace of any kind collapses
        ("hola\n\tmundo", "hola mundo"),
        ("hola\u00a0mundo", "hola mundo"),
        ("a\u200bb", "ab"),  # zero-width space is invisible
        # compatibility forms
        ("m²", "m2"),
        ("\uff21\uff22\uff23", "abc"),  # fullwidth letters
        ("ß", "ss"),
        # emoji are kept, as words of their own
        ("👍", "👍"),
        ("hola😀", "hola 😀"),
        ("😀hola", "😀 hola"),
        ("👍👍", "👍👍"),
        ("❤️", "❤"),  # the variation selector is a combining mark
        ("2\ufe0f\u20e3", "2"),  # the keycap emoji: an enclosing mark
        ("$100", "$ 100"),
        # empty-ish input
        ("", ""),
        ("   ", ""),
        ("¿?¡!...", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_accented_and_plain_spellings_are_equal() -> None:
    assert normalize_text("¿Cuánto cuesta el MESÓN?") == normalize_text("cuanto cuesta el meson")


@given(st.text())
def test_normalize_text_is_idempotent_and_tidy(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert once == once.casefold()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2,4 x 0,6 m", "2.4x0.6 m"),
        ("2.4x0.6", "2.4x0.6"),
        ("2\u00d73", "2x3"),
        ("2 * 3", "2x3"),
        ("1.250.000", "1.250.000"),
        ("Opción 2.", "opcion 2"),
        ("¿la 2, o la 3?", "la 2 o la 3"),
        ("x 2", "x 2"),
        ("²,4", "2.4"),
        ("Ver catálogo", "ver catalogo"),
        ("", ""),
    ],
)
def test_match_text_keeps_numbers_and_measurements_whole(raw: str, expected: str) -> None:
    assert match_text(raw) == expected


@given(st.text())
def test_match_text_is_idempotent_and_tidy(raw: str) -> None:
    once = match_text(raw)
    assert match_text(once) == once
    assert once == once.strip()
    assert "  " not in once


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd", "No"))))
def test_match_text_equals_normalize_text_without_digits(raw: str) -> None:
    assert match_text(raw) == normalize_text(raw)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Ver catálogo", "ver_catalogo"),
        ("¿Cotizar mesón?", "cotizar_meson"),
        ("  Sí  ", "si"),
        ("!!!", ""),
    ],
)
def test_slugify_option(title: str, expected: str) -> None:
    assert slugify_option(title) == expected


def test_option_slug_normalizes_back_to_its_title() -> None:
    # An interactive reply carries the slug; matching compares it with the title's keyword.
    assert normalize_text(slugify_option("Ver catálogo")) == normalize_text("Ver catálogo")
