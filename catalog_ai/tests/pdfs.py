"""Test PDFs made on the fly: text pages (a tiny hand-written PDF), scanned pages (Pillow), broken files.

- text_pdf(pages): real text objects in Helvetica with WinAnsiEncoding, so accents and "—" survive and
  pypdf/pdfium extract the text exactly.
- scanned_pdf(pages): raster-only A4 pages at 200 dpi (Pillow's PDF writer), text drawn with DejaVuSans:
  no text layer, only OCR reads them.
- merge_pdfs(*pdfs), truncated_pdf(), png_bytes(), encrypted_pdf(user_password=...).
- huge_page_pdf(): one blank 14,400 x 14,400 pt page in a few hundred bytes (the largest page PDF allows);
  rendered as asked it needs gigabytes. many_pages_pdf(n): n blank A4 pages.
"""

from __future__ import annotations

import io
from functools import lru_cache

from whatsapp_ia.pdf_file import pdf_file

A4_POINTS = (595, 842)
FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# Page 1: one product per line. Page 2: multi-line products (name, size, reference, price).
CATALOG_PAGES: list[list[str]] = [
    [
        "Catálogo de mesones 2024",
        "Mesón granito negro San Gabriel 200 x 60 cm — REF: GR-NEG-200 — $1.250.000",
        "Mesón granito blanco Dallas 180 x 60 cm — REF: GR-BL-180 — $1.180.000",
        "Mesón cuarzo gris Piamonte 240 x 62 cm — SKU 12345 — $2.340.000",
        "Instalación incluida en Bogotá y Medellín.",
    ],
    [
        "Lavaplatos y griferías",
        "Lavaplatos de sobreponer en acero inoxidable",
        "Medidas: 84 x 50 cm, poceta sencilla",
        "Cód. MS-001",
        "Precio: $389.900",
        "Grifería monocontrol cromada con ducha extraíble",
        "Garantía de 5 años",
        "Referencia: CZ-BL-01",
        "Precio: $215.000",
        "Asesoría: www.marmoles-ejemplo.co",
    ],
]
CATALOG_SKUS = ["GR-NEG-200", "GR-BL-180", "12345", "MS-001", "CZ-BL-01"]

SCANNED_LINES = [
    "Catálogo de cocinas",
    "Campana extractora de acero",
    "Referencia: CA-EXT-90",
    "Precio: $799.000",
]
#: A scanned table (issue 14): Tesseract reads its columns one after the other unless the rows are put back.
SCANNED_TABLE: list[str | tuple[str, ...]] = [
    "Tanques y bombas",
    ("Producto", "Ref.", "Precio"),
    ("Tanque de agua 500 litros", "TQ-500", "$399.000"),
    ("Tanque de agua 1.000 litros", "TQ-1000", "$559.000"),
    ("Bomba periférica 1/2 HP", "BO-B12", "$269.900"),
    "Los tanques incluyen tapa de rosca y flotador.",
]
TABLE_COLUMNS = (150, 950, 1250)
SCANNED_WORDS = ["catalogo", "cocinas", "campana", "extractora", "acero", "ca-ext-90", "799.000"]


def _escape(line: str) -> bytes:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")


def text_pdf(
    pages: list[list[str]], *, font_size: int = 11, leading: int = 16, size: tuple[int, int] = A4_POINTS
) -> bytes:
    """A minimal valid PDF: one text object per page, lines top to bottom ("" = an empty line); `size` in points."""
    objects: list[bytes | None] = [None, None]  # 1: catalog, 2: page tree (filled in at the end)
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    font_id = len(objects)
    kids = []
    for lines in pages:
        ops = [b"BT /F1 %d Tf %d TL 56 790 Td" % (font_size, leading)]
        for i, line in enumerate(lines):
            if i:
                ops.append(b"T*")
            ops.append(b"(" + _escape(line) + b") Tj")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (*size, font_id, content_id)
        )
        kids.append(len(objects))
    return pdf_file(objects, kids)


def scanned_pdf(pages: list[list[str | tuple[str, ...]]], *, dpi: int = 200, font_px: int = 40) -> bytes:
    """Raster-only A4 pages (no text layer), as a scanner would produce. A tuple is a table row: its cells are
    drawn in columns far apart (at TABLE_COLUMNS)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT_PATH, font_px)
    size = (round(A4_POINTS[0] / 72 * dpi), round(A4_POINTS[1] / 72 * dpi))
    images = []
    for lines in pages:
        image = Image.new("L", size, 255)
        draw = ImageDraw.Draw(image)
        y = 200
        for line in lines:
            for x, cell in zip(TABLE_COLUMNS, [line] if isinstance(line, str) else line, strict=False):
                draw.text((x, y), cell, font=font, fill=0)
            y += int(font_px * 1.6)
        images.append(image)
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def merge_pdfs(*pdfs: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(PdfReader(io.BytesIO(pdf)))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


USER_PASSWORD = "secreto"
OWNER_PASSWORD = "dueño"


def encrypted_pdf(pdf: bytes, *, user_password: str = USER_PASSWORD, owner_password: str = OWNER_PASSWORD) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password=owner_password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def truncated_pdf(pdf: bytes) -> bytes:
    return pdf[: len(pdf) // 2]


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(buffer, "PNG")
    return buffer.getvalue()


@lru_cache(maxsize=1)
def catalog_pdf() -> bytes:
    """Two text pages (CATALOG_PAGES)."""
    return text_pdf(CATALOG_PAGES)


@lru_cache(maxsize=1)
def mixed_pdf() -> bytes:
    """The two text pages plus one scanned page (SCANNED_LINES)."""
    return merge_pdfs(catalog_pdf(), scanned_pdf([SCANNED_LINES]))


def huge_page_pdf(points: int = 14_400) -> bytes:
    """One blank page of points x points (14,400 pt = 200 in, PDF's maximum): tiny file, gigapixel render."""
    return text_pdf([[]], size=(points, points))


def many_pages_pdf(pages: int) -> bytes:
    """`pages` blank A4 pages."""
    return text_pdf([[] for _ in range(pages)])
