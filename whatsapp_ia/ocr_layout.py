"""A scanned page's or a photo's text from Tesseract's word boxes, tables read row by row. Pure: no I/O.

Tesseract's automatic page segmentation reads a table whose columns stand apart as separate blocks:
first every product name, then every reference, then every price, so nothing tells which price is
whose ("Tanque de agua 500 litros", ..., "TQ-500", "TQ-1000", ..., "$399.000", "$559.000"). A column
made only of values (prices, references, measures: short cells with a digit, under an optional
header word) belongs to the rows beside it; :func:`layout_text` puts each of its cells back on the
line to its left with the same baseline ("Tanque de agua 500 litros · TQ-500 · $399.000"), as
the catalogs with a text layer write their tables. Blocks of prose and product cards side by side
(a grid of products, each with its name and its price) are left as Tesseract read them: their
columns are not values only.

It also mends what Tesseract's Spanish model reads as a question mark: the superscript of square
metres ("Caja de 2,03 m?" is "2,03 m²"), on a line without an opening "¿".

``lines_from_data(data)`` turns ``pytesseract.image_to_data(..., output_type=Output.DICT)`` into
:class:`OcrLine` s; ``layout_text(lines)`` gives the text: Tesseract's blocks apart by a blank line, the
lines of a block one under the other. A block is what Tesseract saw as one region (a product card, a
table, a paragraph); the paragraphs it finds inside one are often a card's lines pulled apart, and the
chunker keeps what a blank line does not separate together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OcrLine", "layout_text", "lines_from_data", "mend_ocr_line"]

#: A cell of a value column: at most this many words, with a digit ("TQ-500", "$1.290.000", "45 x 45").
VALUE_CELL_WORDS = 3
CELL_SEPARATOR = " · "


@dataclass
class OcrLine:
    """One line of words as Tesseract found it, with its box in pixels."""

    block: int
    paragraph: int
    text: str
    left: int
    top: int
    right: int
    bottom: int
    cells: list[str] = field(default_factory=list)  # values put back on this line from columns to its right

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def height(self) -> int:
        return max(self.bottom - self.top, 1)


def lines_from_data(data: Mapping[str, Sequence[Any]]) -> list[OcrLine]:
    """The lines of ``image_to_data``'s dictionary, in Tesseract's reading order (empty words left out)."""
    grouped: dict[tuple[int, int, int, int], list[int]] = {}
    for i, word in enumerate(data.get("text", ())):
        if int(data["level"][i]) != 5 or not str(word).strip():
            continue
        key = (int(data["page_num"][i]), int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        grouped.setdefault(key, []).append(i)
    lines = []
    for (_page, block, paragraph, _line), indexes in grouped.items():
        lefts = [int(data["left"][i]) for i in indexes]
        tops = [int(data["top"][i]) for i in indexes]
        rights = [int(data["left"][i]) + int(data["width"][i]) for i in indexes]
        bottoms = [int(data["top"][i]) + int(data["height"][i]) for i in indexes]
        text = " ".join(str(data["text"][i]).strip() for i in indexes)
        lines.append(OcrLine(block, paragraph, text, min(lefts), min(tops), max(rights), max(bottoms)))
    return lines


_DIGIT = re.compile(r"\d")


def _value_cell(text: str) -> bool:
    return bool(_DIGIT.search(text)) and len(text.split()) <= VALUE_CELL_WORDS


def _header_cell(text: str) -> bool:
    return not _DIGIT.search(text) and len(text.split()) <= VALUE_CELL_WORDS


def _value_column(lines: list[OcrLine]) -> bool:
    """Two values or more, one under the other, under at most one header cell ("Ref.", "Precio")."""
    body = lines[1:] if lines and _header_cell(lines[0].text) else lines
    return len(body) >= 2 and all(_value_cell(line.text) for line in body)


def _same_row(a: OcrLine, b: OcrLine) -> bool:
    return abs(a.middle - b.middle) <= 0.5 * min(a.height, b.height)


def _rows_for(column: list[OcrLine], candidates: list[OcrLine]) -> dict[int, OcrLine] | None:
    """For each line of ``column``, the line of one block to its left on the same row; None unless one block
    has a line beside every line of the column."""
    left_edge = min(line.left for line in column)
    by_block: dict[int, dict[int, OcrLine]] = {}
    for i, cell in enumerate(column):
        for line in candidates:
            if line.right <= left_edge and _same_row(line, cell):
                by_block.setdefault(line.block, {}).setdefault(i, line)
    if not by_block:
        return None
    _block, rows = max(by_block.items(), key=lambda item: (len(item[1]), -item[0]))
    return rows if len(rows) == len(column) else None


_SQUARED = re.compile(r"(?<![\w¿])(c?m)\?(?=[\s.,;:)]|$)")


def mend_ocr_line(text: str) -> str:
    """What Tesseract misreads on a line: "m?" after a figure is "m²" (unless the line asks a question)."""
    if "¿" in text:
        return text
    return _SQUARED.sub(r"\1²", text)


def layout_text(lines: list[OcrLine]) -> str:
    """The page's text (see the module docstring)."""
    blocks: dict[int, list[OcrLine]] = {}
    for line in lines:
        blocks.setdefault(line.block, []).append(line)
    merged: set[int] = set()
    for block, column in blocks.items():
        if not _value_column(column):
            continue
        candidates = [line for other, own in blocks.items() if other != block and other not in merged for line in own]
        rows = _rows_for(column, candidates)
        if rows is None:
            continue
        for i, cell in enumerate(column):
            rows[i].cells.append(cell.text)
        merged.add(block)
    text_blocks = []
    for block, own in blocks.items():
        if block not in merged:
            text_blocks.append("\n".join(mend_ocr_line(CELL_SEPARATOR.join([line.text, *line.cells])) for line in own))
    return "\n\n".join(text_blocks)
