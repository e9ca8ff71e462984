"""Split one catalog page's text into overlapping chunks that keep each product's lines together.

Pure: no Django, no I/O.

1. Whitespace is normalised (spaces collapsed, lines stripped, runs of blank lines become one); line breaks stay,
   except where the PDF wrapped a sentence (:func:`unwrap_lines`).
2. The page is cut into blocks. On a page with product markers ("anchor" lines: lines with a SKU, else
   lines with a price) every anchor belongs to one product block; between two anchors the boundary goes
   after the last price line (a price closes a product), else at the first blank line, else right before
   the next product's description (description first, then reference: the usual catalog layout).
   Lines before the first product / after the last one form their own block when a blank line or a price
   separates them, and join the nearest product otherwise. When every product is one whole line (its name,
   reference and price on the same line), each line is a product of its own and the other lines are
   paragraphs (a title, a closing remark). Pages without markers are cut at blank lines (policies, services
   and other text stay as paragraphs).
3. Blocks are packed in order into chunks of at most `max_chars`, separated by a blank line (so whoever reads
   a chunk sees where a product or a paragraph ends); consecutive chunks overlap by whole lines (whole
   trailing blocks when they fit in `overlap`, else trailing lines). A block longer than `max_chars` alone is
   cut by lines (and an over-long line by words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalog_ai.skus import DEFAULT_SKU_PATTERN, has_sku

PRICE_RE = re.compile(
    r"(?i)(?:\bprecio\b|\bvalor\s*:|(?:\bus|\bcop|\busd)?\$\s?\d|€\s?\d"
    r"|\b\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?\s?(?:cop|usd|eur|€|pesos)\b)"
)
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")

Block = list[str]
#: A line with a price closes a product only when it is this short (longer: a sentence that mentions a price).
_CLOSING_PRICE_CHARS = 80


def normalize_text(text: str) -> str:
    """Collapse spaces, strip lines, keep line breaks, allow at most one blank line in a row."""
    text = _INVISIBLE.sub("", text or "").replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    for raw in text.split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


_ENDS_SENTENCE = re.compile(r"[.!?…:;]$")
_CONTINUES = re.compile(r"^(?:[a-zà-öø-ÿ]|[$€]\s?\d)")


def unwrap_lines(text: str) -> str:
    """Join the lines a PDF wrapped inside a sentence (blank lines between them included).

    A line that does not end a sentence (no ``. ! ? … : ;`` at its end) continues on the next non-blank
    line when that one starts with a lower-case letter or an amount ("con un\ncosto de $35.000" -> "con un
    costo de $35.000", "con un costo de\n$180.000 por mesón"). Product lines ("Grifería de cocina\nManguera
    de 1,5 m") start with a capital and stay apart.
    """
    lines = text.split("\n")
    out: list[str] = []
    pending_blank = False
    for line in lines:
        if not line:
            pending_blank = True
            continue
        if out and out[-1] and not _ENDS_SENTENCE.search(out[-1]) and _CONTINUES.match(line):
            out[-1] = f"{out[-1]} {line}"
        else:
            if pending_blank and out:
                out.append("")
            out.append(line)
        pending_blank = False
    return "\n".join(out)


def is_price_line(line: str) -> bool:
    return bool(PRICE_RE.search(line))


def _paragraphs(lines: list[str]) -> list[Block]:
    blocks: list[Block] = [[]]
    for line in lines:
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _closing_price(line: str) -> bool:
    """A price line that can close a product ("Precio: $389.900"), not a sentence that quotes a price."""
    return is_price_line(line) and len(line) <= _CLOSING_PRICE_CHARS


def _gap_split(gap: list[str], *, price_anchors: bool) -> int:
    """Where the lines between two products divide: gap[:i] end the previous one, gap[i:] start the next.

    With reference anchors: a price line right after the reference (blank lines between allowed, as OCR
    leaves them) closes that product; otherwise a blank line divides; otherwise the last price line closes
    the previous product (reference first, then name and price). With price anchors: the first blank line.
    """
    first = next((i for i, line in enumerate(gap) if line), -1)
    if not price_anchors and first >= 0 and _closing_price(gap[first]):
        return first + 1
    first_blank = next((i for i, line in enumerate(gap) if not line), -1)
    if first_blank >= 0:
        return first_blank
    if not price_anchors:
        last_price = max((i for i, line in enumerate(gap) if line and _closing_price(line)), default=-1)
        if last_price >= 0:
            return last_price + 1
    return 0


_NAME_WORD = re.compile(r"[^\W\d_]{3,}")
_LABEL_WORDS = frozenset(["ref", "precio", "valor", "sku", "cod", "código", "referencia", "price", "cop", "usd"])


def _has_name(line: str, sku_pattern: str) -> bool:
    """Whether a line says more than a reference and a price: at least two words of three letters or more."""
    rest = re.sub(sku_pattern, " ", line)
    words = [w for w in _NAME_WORD.findall(rest) if w.casefold() not in _LABEL_WORDS]
    return len(words) >= 2


def _whole_product_line(line: str, sku_pattern: str) -> bool:
    """A line holding a product's reference, its price and a name."""
    return has_sku(line, sku_pattern) and is_price_line(line) and _has_name(line, sku_pattern)


def _line_products(lines: list[str], anchors: list[int]) -> list[Block]:
    """Each anchor line alone; the lines between them as paragraphs."""
    blocks: list[Block] = []
    start = 0
    for anchor in anchors:
        blocks.extend(_paragraphs(lines[start:anchor]))
        blocks.append([lines[anchor]])
        start = anchor + 1
    blocks.extend(_paragraphs(lines[start:]))
    return blocks


_NAME_LINE_WORDS = 8


def _name_above(lines: list[str], blank: int, anchor: int, sku_pattern: str) -> int:
    """The blank line that really opens the first product: OCR leaves a blank line between a product's name and
    its description ("Cerradura digital Smart Lock", "", "Abre con huella dactilar...", "Código: CE-1 — $699.000").
    A lone name-like line (a few words, no sentence punctuation, no price or reference) above a product whose
    paragraph opens with a sentence is the product's name; it is not the page's first line (its title)."""
    first = next((i for i in range(blank + 1, anchor + 1) if lines[i]), anchor)
    opens_with_sentence = lines[first].rstrip()[-1:] in ".!?" and first != anchor
    previous_blank = max((i for i in range(blank) if not lines[i]), default=-1)
    above = [line for line in lines[previous_blank + 1 : blank] if line]
    if not opens_with_sentence or previous_blank < 0 or len(above) != 1:
        return blank
    name = above[0]
    if (
        len(name.split()) > _NAME_LINE_WORDS
        or name.rstrip()[-1:] in ".!?:;,"
        or is_price_line(name)
        or has_sku(name, sku_pattern)
        or not _has_name(name, sku_pattern)
    ):
        return blank
    return previous_blank


def product_blocks(lines: list[str], *, sku_pattern: str = DEFAULT_SKU_PATTERN) -> list[Block]:
    """Blocks of non-blank lines; "" entries in `lines` are blank-line markers."""
    anchors = [i for i, line in enumerate(lines) if line and has_sku(line, sku_pattern)]
    price_anchors = False
    if not anchors:
        anchors = [i for i, line in enumerate(lines) if line and is_price_line(line)]
        price_anchors = True
    if not anchors:
        return _paragraphs(lines)
    if not price_anchors and all(_whole_product_line(lines[i], sku_pattern) for i in anchors):
        return _line_products(lines, anchors)

    blocks: list[Block] = []
    # Before the first product: a header block when a blank line separates it, unless the product has no name
    # without it (OCR puts blank lines inside a product: "Mesón granito negro", "", "REF: GR-1", "Precio $10").
    head = lines[: anchors[0]]
    last_blank = max((i for i, line in enumerate(head) if not line), default=-1)
    if last_blank >= 0 and not any(_has_name(line, sku_pattern) for line in lines[last_blank + 1 : anchors[0] + 1]):
        last_blank = max((i for i, line in enumerate(head[:last_blank]) if not line), default=-1)
    if last_blank >= 0:
        last_blank = _name_above(lines, last_blank, anchors[0], sku_pattern)
    blocks.extend(_paragraphs(head[:last_blank]) if last_blank >= 0 else [])
    start = last_blank + 1 if last_blank >= 0 else 0
    for k, anchor in enumerate(anchors):
        if k + 1 < len(anchors):
            gap = lines[anchor + 1 : anchors[k + 1]]
            end = anchor + 1 + _gap_split(gap, price_anchors=price_anchors)
        else:
            tail = lines[anchor + 1 :]
            split = _gap_split(tail, price_anchors=price_anchors)
            has_separator = any(not line for line in tail) or (
                not price_anchors and any(line and _closing_price(line) for line in tail)
            )
            end = anchor + 1 + (split if has_separator else len(tail))
        block = [line for line in lines[start:end] if line]
        if block:
            blocks.append(block)
        start = end
    blocks.extend(_paragraphs(lines[start:]))
    return blocks


def _size(lines: list[str]) -> int:
    return sum(len(line) for line in lines) + max(len(lines) - 1, 0)


def _split_line(line: str, limit: int) -> list[str]:
    """Cut an over-long line at spaces (inside a word only when one word alone is too long)."""
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces


def _split_block(block: Block, limit: int) -> list[Block]:
    """A block longer than the chunk size, as consecutive pieces of whole lines of at most `limit` chars."""
    lines = [piece for line in block for piece in (_split_line(line, limit) if len(line) > limit else [line])]
    pieces: list[Block] = [[]]
    for line in lines:
        if pieces[-1] and _size([*pieces[-1], line]) > limit:
            pieces.append([])
        pieces[-1].append(line)
    return [p for p in pieces if p]


@dataclass
class _Piece:
    lines: list[str]
    source: int  # index of the block it comes from (a long block gives several pieces)
    product: bool  # the block holds a SKU or a price


def _trailing_lines(lines: list[str], limit: int) -> list[str]:
    tail: list[str] = []
    for line in reversed(lines):
        if _size([line, *tail]) > limit:
            break
        tail = [line, *tail]
    return tail


def _overlap_tail(current: list[_Piece], following: _Piece, overlap: int) -> list[str]:
    """What a finished chunk repeats at the start of the next one.

    A long block cut in pieces continues with its last lines. Otherwise: whole trailing blocks that fit;
    if none fits, the last lines of a text block, but never part of a product (it would read as a product
    of its own, with another one's reference or price)."""
    if overlap <= 0 or not current:
        return []
    last = current[-1]
    if following.source == last.source:
        return _trailing_lines(last.lines, overlap)
    tail: list[str] = []
    for piece in reversed(current):
        if _size([*piece.lines, *tail]) > overlap:
            break
        tail = [*piece.lines, *tail]
    if tail or last.product:
        return tail
    return _trailing_lines(last.lines, overlap)


#: A block shorter than this (a title, a one-line note) is kept with the next block rather than alone.
MIN_BLOCK_CHARS = 80
_TITLE_WORDS = 8


def _page_title(blocks: list[Block]) -> list[str]:
    """The page's title: a first block of one short line without digits ("Grifería para cocina"), else none."""
    if len(blocks) < 2 or len(blocks[0]) != 1:
        return []
    line = blocks[0][0]
    if any(ch.isdigit() for ch in line) or len(line.split()) > _TITLE_WORDS or line.endswith((".", ":", ";")):
        return []
    return [line]


def chunk_page(
    text: str, *, max_chars: int = 900, overlap: int = 150, sku_pattern: str = DEFAULT_SKU_PATTERN
) -> list[str]:
    """The page's text as chunks of at most `max_chars` characters: one product, or one paragraph, per chunk.

    Each product block (and each paragraph of text) is a chunk of its own, so a search finds the product
    itself and an answer quotes its lines; a block shorter than MIN_BLOCK_CHARS joins the next one (the last
    joins the previous). The page's title, when it has one, heads every chunk of the page (the chunk about
    "Portarrollos de pared" still says it is on "Accesorios de baño"). A block longer than `max_chars` is
    cut by lines, consecutive pieces overlapping by up to `overlap` characters of whole lines.
    """
    max_chars = max(int(max_chars), 50)
    overlap = min(max(int(overlap), 0), max_chars // 2)
    sku_pattern = sku_pattern or DEFAULT_SKU_PATTERN
    normalized = unwrap_lines(normalize_text(text))
    if not normalized:
        return []

    blocks = product_blocks(normalized.split("\n"), sku_pattern=sku_pattern)
    title = _page_title(blocks)
    if title and _size(title) > max_chars // 4:
        title = []
    groups: list[list[Block]] = []
    pending: list[Block] = []
    for block in blocks[1:] if title else blocks:
        pending.append(block)
        is_product = any(has_sku(line, sku_pattern) or is_price_line(line) for line in block)
        if is_product or sum(_size(b) for b in pending) >= MIN_BLOCK_CHARS:
            groups.append(pending)
            pending = []
    if pending:
        if groups and sum(_size(b) for b in [*groups[-1], *pending]) + len(groups[-1]) <= max_chars:
            groups[-1].extend(pending)
        else:
            groups.append(pending)
    if not groups and title:
        groups = [[title]]
        title = []

    chunks: list[str] = []
    room = max_chars - (_size(title) + 2 if title else 0)
    for group in groups:
        pieces = [_Piece(block, source, False) for source, block in enumerate(group)]
        if len(_chunk_text(pieces)) <= room:
            parts = [pieces]
        else:
            parts = []
            for block in group:
                if _size(block) <= room:
                    parts.append([_Piece(block, 0, False)])
                    continue
                cut = [[_Piece(part, 0, False)] for part in _split_block(block, room - overlap)]
                for k in range(1, len(cut)):
                    carried = _trailing_lines(cut[k - 1][-1].lines, overlap)
                    while carried and _size([*carried, *cut[k][0].lines]) > room:
                        carried = carried[1:]
                    cut[k] = [_Piece([*carried, *cut[k][0].lines], 0, False)]
                parts.extend(cut)
        for part in parts:
            body = _chunk_text(part)
            chunks.append("\n".join([*title, "", body]) if title else body)
    return chunks


def _chunk_text(pieces: list[_Piece]) -> str:
    """The pieces' lines; a blank line where one block ends and another begins."""
    out: list[str] = []
    previous: int | None = None
    for piece in pieces:
        if not piece.lines:
            continue
        if out and piece.source != previous:
            out.append("")
        out.extend(piece.lines)
        previous = piece.source
    return "\n".join(out)
