"""chunk_page: whitespace, product blocks for common catalog layouts, size limit, overlap by whole lines."""

from __future__ import annotations

import itertools

import pytest

from catalog_ai.chunking import chunk_page, normalize_text, product_blocks, unwrap_lines
from catalog_ai.skus import extract_skus
from catalog_ai.tests.pdfs import CATALOG_PAGES


def blocks(text: str) -> list[list[str]]:
    return product_blocks(normalize_text(text).split("\n"))


def test_normalize_collapses_spaces_keeps_line_breaks() -> None:
    raw = "  Mesón\u00a0 granito\t negro  \r\n\r\n\r\n REF:\u200b GR-1 \rPrecio  $10\n\n"
    assert normalize_text(raw) == "Mesón granito negro\n\nREF: GR-1\nPrecio $10"
    assert chunk_page(raw) == ["Mesón granito negro\nREF: GR-1\nPrecio $10"]  # one product: no blank line


def test_empty_text_gives_no_chunks() -> None:
    assert chunk_page("") == []
    assert chunk_page(" \n\t\n ") == []


def test_one_product_per_line() -> None:
    # Each line holds a whole product (name, reference, price): the title and the closing remark are their own
    # paragraphs, not part of the first or last product.
    assert blocks("\n".join(CATALOG_PAGES[0])) == [[line] for line in CATALOG_PAGES[0]]


def test_a_product_and_a_policy_paragraph_are_chunks_of_their_own() -> None:
    text = (
        "Mesones de granito\n"
        "Granito Negro San Gabriel\nPrecio por metro cuadrado: $450.000\nEspesor 2 cm. Ideal para cocinas.\n"
        "Ref. GR-001\n\n"
        "Envíos: enviamos a Medellín, Cali y Barranquilla por transportadora con un costo de $180.000 por mesón.\n"
        "La instalación tarda 3 días hábiles."
    )
    assert chunk_page(text) == [
        "Mesones de granito\nGranito Negro San Gabriel\nPrecio por metro cuadrado: $450.000\n"
        "Espesor 2 cm. Ideal para cocinas.\nRef. GR-001",
        "Envíos: enviamos a Medellín, Cali y Barranquilla por transportadora con un costo de $180.000 por mesón.\n"
        "La instalación tarda 3 días hábiles.",
    ]


def test_lines_a_pdf_wrapped_inside_a_sentence_are_joined() -> None:
    text = (
        "Servicio de instalación\nLa visita se agenda dentro de los 3 días hábiles siguientes a la\n\nentrega.\n"
        "Tarifas: grifería $60.000; sanitario $90.000; ducha\neléctrica $70.000."
    )
    assert unwrap_lines(normalize_text(text)) == (
        "Servicio de instalación\nLa visita se agenda dentro de los 3 días hábiles siguientes a la entrega.\n"
        "Tarifas: grifería $60.000; sanitario $90.000; ducha eléctrica $70.000."
    )


def test_description_then_reference_then_price() -> None:
    page = CATALOG_PAGES[1]
    assert blocks("\n".join(page)) == [page[0:5], page[5:9], page[9:10]]  # footer after the last price


def test_reference_first_layout() -> None:
    text = "REF: A-1\nSilla roble\nPrecio: $100\nREF: A-2\nMesa roble\nPrecio: $300"
    assert blocks(text) == [["REF: A-1", "Silla roble", "Precio: $100"], ["REF: A-2", "Mesa roble", "Precio: $300"]]


def test_ocr_style_blank_lines_do_not_split_a_product_from_its_price() -> None:
    ocr = (
        "Catálogo de lavaplatos\n\nLavaplatos acero inoxidable doble poceta\nReferencia: LV-INOX-84\n\n"
        "Precio: $389.900\n\nGrifería monocontrol cromada\n\nCód. GF-MONO-01 — $215.000\n"
    )
    assert blocks(ocr) == [
        ["Catálogo de lavaplatos"],
        ["Lavaplatos acero inoxidable doble poceta", "Referencia: LV-INOX-84", "Precio: $389.900"],
        ["Grifería monocontrol cromada", "Cód. GF-MONO-01 — $215.000"],
    ]


def test_prices_mark_products_when_there_are_no_skus() -> None:
    text = "Ofertas\n\nSilla roble\nPrecio: $100\nMesa roble\nPrecio: $300"
    assert blocks(text) == [["Ofertas"], ["Silla roble", "Precio: $100"], ["Mesa roble", "Precio: $300"]]


def test_plain_text_is_cut_at_blank_lines() -> None:
    assert blocks("Uno\ndos\n\n\nTres") == [["Uno", "dos"], ["Tres"]]


def product_lines(i: int) -> list[str]:
    return [f"Mesón modelo {i} color gris", f"Medidas: {100 + i} x 60 cm", f"REF: GR-{i:03d}", f"Precio: ${i}.000"]


def product_page(count: int) -> str:
    lines = ["Mesones de granito", ""]
    for i in range(count):
        lines += product_lines(i)
    return "\n".join(lines)


@pytest.mark.parametrize(("max_chars", "overlap"), [(120, 0), (160, 60), (300, 150), (900, 150)])
def test_chunks_respect_the_limit_and_never_split_a_product(max_chars: int, overlap: int) -> None:
    chunks = chunk_page(product_page(12), max_chars=max_chars, overlap=overlap)
    assert all(len(chunk) <= max_chars for chunk in chunks)
    for i in range(12):
        holding = [c for c in chunks if f"REF: GR-{i:03d}" in c]
        assert holding, i
        for chunk in holding:  # wherever a reference is, its name, size and price are there too
            assert "\n".join(product_lines(i)) in chunk
    assert "\n".join(dict.fromkeys(line for c in chunks for line in c.split("\n") if line)) == normalize_text(
        product_page(12)
    ).replace("\n\n", "\n")


def test_each_paragraph_is_a_chunk_and_a_short_one_joins_the_next() -> None:
    paragraphs = [f"Párrafo {i}: " + "texto de relleno " * 6 for i in range(4)]
    text = "\n\n".join(["Nota breve.", *paragraphs, "Fin."])
    chunks = chunk_page(text, max_chars=300, overlap=80)
    assert chunks == [
        f"Nota breve.\n\n{paragraphs[0].strip()}",  # too short alone: joins the next paragraph
        paragraphs[1].strip(),
        paragraphs[2].strip(),
        f"{paragraphs[3].strip()}\n\nFin.",  # the last short one joins the previous
    ]


def test_the_page_title_heads_every_chunk_of_the_page() -> None:
    text = "\n".join(["Accesorios de baño", "", *product_lines(1), "", *product_lines(2)])
    assert chunk_page(text) == [
        "Accesorios de baño\n\n" + "\n".join(product_lines(1)),
        "Accesorios de baño\n\n" + "\n".join(product_lines(2)),
    ]


def test_no_partial_product_is_carried_as_overlap() -> None:
    chunks = chunk_page(product_page(6), max_chars=160, overlap=60)
    assert len(chunks) > 1  # the page was cut, so there was overlap to carry
    for chunk in chunks:
        lines = chunk.split("\n")
        refs = extract_skus(chunk)
        # every chunk starts with a product name or the title, never with a stray size/REF/price line
        assert lines[0].startswith(("Mesón modelo", "Mesones")), chunk
        assert len(refs) == sum(line.startswith("Mesón modelo") for line in lines)


def test_a_block_longer_than_the_limit_is_cut_by_lines_with_overlap() -> None:
    block = "\n".join(f"Característica {i} del mesón de cuarzo" for i in range(40))
    chunks = chunk_page(block, max_chars=200, overlap=60)
    assert len(chunks) > 5
    assert all(len(c) <= 200 for c in chunks)
    for previous, chunk in itertools.pairwise(chunks):
        assert chunk.split("\n")[0] == previous.split("\n")[-1]


def test_an_over_long_line_is_cut_at_spaces() -> None:
    line = " ".join(f"palabra{i}" for i in range(200))
    chunks = chunk_page(line, max_chars=100, overlap=0)
    assert all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks).split() == line.split()
    assert chunk_page("x" * 250, max_chars=100, overlap=0) == ["x" * 100, "x" * 100, "x" * 50]


def test_a_name_ocr_left_a_blank_line_under_stays_with_its_product() -> None:
    page = (
        "Cerraduras y seguridad\n\nSeguridad para las puertas de la casa y del negocio.\n\n"
        "Cerradura digital Smart Lock\n\n"
        "Abre con huella dactilar, clave numérica o tarjeta. Guarda hasta 100 huellas.\n"
        "Código: CE-DIG-01 — $699.000"
    )
    blocks = product_blocks(page.split("\n"))
    assert blocks[-1][0] == "Cerradura digital Smart Lock" and blocks[-1][-1] == "Código: CE-DIG-01 — $699.000"
    assert ["Seguridad para las puertas de la casa y del negocio."] in blocks
    # A section heading above a product that opens with its own name stays a heading.
    page = "Griferías\n\nGrifería para cocina\n\nGrifería monocontrol cuello alto\nREF: GC-1\nPrecio: $289.900"
    assert product_blocks(page.split("\n"))[-1][0] == "Grifería monocontrol cuello alto"
