"""whatsapp_ia.ocr_layout: a scanned page's text from Tesseract's word boxes (pure; no Tesseract here)."""

from __future__ import annotations

from typing import Any

from whatsapp_ia.ocr_layout import OcrLine, layout_text, lines_from_data, mend_ocr_line

ROW = 40  # px between two lines


def line(block: int, text: str, *, x: int, row: int, width: int = 300, paragraph: int = 1) -> OcrLine:
    top = 100 + row * ROW
    return OcrLine(block, paragraph, text, x, top, x + width, top + 28)


def test_a_table_read_column_by_column_gets_its_rows_back() -> None:
    """Tesseract's blocks: the names, then the references, then the prices (as issue 14's scanned p16)."""
    names = ["Producto", "Tanque de agua 500 litros", "Tanque de agua 1.000 litros", "Bomba periférica 1/2 HP"]
    lines = [
        line(1, "Tanques y bombas", x=160, row=-2, width=600),
        *[line(2, text, x=160, row=i, width=420, paragraph=i + 1) for i, text in enumerate(names)],
        line(3, "Los tanques incluyen tapa de rosca y flotador.", x=160, row=6, width=900),
        *[line(4, text, x=700, row=i, width=120) for i, text in enumerate(["Ref.", "TQ-500", "TQ-1000", "BO-P05"])],
        *[line(5, text, x=900, row=i, width=150) for i, text in enumerate(["Precio", "$399.000", "$559.000", "$2.50"])],
    ]
    assert layout_text(lines) == (
        "Tanques y bombas\n\n"
        "Producto · Ref. · Precio\n"
        "Tanque de agua 500 litros · TQ-500 · $399.000\n"
        "Tanque de agua 1.000 litros · TQ-1000 · $559.000\n"
        "Bomba periférica 1/2 HP · BO-P05 · $2.50\n\n"
        "Los tanques incluyen tapa de rosca y flotador."
    )


def test_product_cards_side_by_side_stay_apart() -> None:
    """A grid of cards lines up row by row too, but no column is values only: each card stays whole."""
    left = ["Grifería lavamanos baja", "Cromada, cartucho cerámico.", "$129.900"]
    right = ["Grifería lavamanos alta", "Negro mate, para sobreponer.", "$239.900"]
    lines = [line(1, t, x=100, row=i) for i, t in enumerate(left)] + [
        line(2, t, x=700, row=i) for i, t in enumerate(right)
    ]
    assert layout_text(lines) == "\n".join(left) + "\n\n" + "\n".join(right)


def test_a_value_column_without_a_line_beside_each_cell_is_left_as_read() -> None:
    lines = [
        line(1, "Tubo PVC 1/2", x=100, row=0),
        line(2, "$21.500", x=700, row=0, width=120),
        line(2, "$32.900", x=700, row=1, width=120),  # nothing to its left on this row
    ]
    assert layout_text(lines) == "Tubo PVC 1/2\n\n$21.500\n$32.900"


def test_a_column_to_the_left_of_its_values_only() -> None:
    """Values in the left column and names on the right are not a row of this kind: left as read."""
    lines = [
        line(1, "TQ-500", x=100, row=0, width=120),
        line(1, "TQ-1000", x=100, row=1, width=120),
        line(2, "Tanque de agua 500 litros", x=400, row=0),
        line(2, "Tanque de agua 1.000 litros", x=400, row=1),
    ]
    assert layout_text(lines) == "TQ-500\nTQ-1000\n\nTanque de agua 500 litros\nTanque de agua 1.000 litros"


def test_square_metres_read_as_a_question_mark_are_mended() -> None:
    assert mend_ocr_line("Caja de 2,03 m?, tráfico medio.") == "Caja de 2,03 m², tráfico medio."
    assert mend_ocr_line("SKU PI-4545 — $43.900 el m?") == "SKU PI-4545 — $43.900 el m²"
    assert mend_ocr_line("Rinde 4 m? por bulto; 10 cm?.") == "Rinde 4 m² por bulto; 10 cm²."
    assert mend_ocr_line("¿Cuántos m? necesito?") == "¿Cuántos m? necesito?"
    assert mend_ocr_line("¿Me lo envían a Cam? Sí.") == "¿Me lo envían a Cam? Sí."
    assert mend_ocr_line("Pregunte por el item?") == "Pregunte por el item?"


def _data(words: list[tuple[int, int, int, int, int, str]]) -> dict[str, list[Any]]:
    """image_to_data's dictionary: a page row, then (level, block, par, line, left, text) rows."""
    keys = ("level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width", "height")
    columns: dict[str, list[Any]] = {k: [] for k in (*keys, "conf", "text")}
    for level, block, par, row, left, text in words:
        for key, value in (("level", level), ("page_num", 1), ("block_num", block), ("par_num", par),
                           ("line_num", row), ("word_num", 1), ("left", left), ("top", 100 + 40 * row),
                           ("width", 10 * len(text)), ("height", 28), ("conf", 96 if text else -1),
                           ("text", text)):  # fmt: skip
            columns[key].append(value)
    return columns


def test_lines_from_data_groups_words_by_line_and_skips_empty_ones() -> None:
    data = _data(
        [
            (1, 0, 0, 0, 0, ""),
            (2, 1, 0, 0, 100, ""),
            (5, 1, 1, 1, 100, "Cinta"),
            (5, 1, 1, 1, 160, "teflón"),
            (5, 1, 1, 1, 230, " "),
            (5, 1, 1, 2, 100, "$2.500"),
            (5, 2, 1, 1, 600, "Ref."),
        ]
    )
    lines = lines_from_data(data)
    assert [(x.block, x.text, x.left, x.right) for x in lines] == [
        (1, "Cinta teflón", 100, 220),
        (1, "$2.500", 100, 160),
        (2, "Ref.", 600, 640),
    ]
    assert layout_text(lines) == "Cinta teflón\n$2.500\n\nRef."
