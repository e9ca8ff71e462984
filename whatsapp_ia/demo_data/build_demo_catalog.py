"""Write the demo's sample catalog, ``catalogo-demo.pdf``, beside this file (no dependency: whatsapp_ia.pdf_file).

    .venv/bin/python -m whatsapp_ia.demo_data.build_demo_catalog

A five-page Spanish catalog of the demo store (Mesones del Valle): granite, quartz, marble and sintered
countertops, sinks and faucets, then services and policies (measuring visit, installation, delivery times,
shipping, warranty, payment). Every fact is a whole sentence with its price and reference, so the AI's
offline answers read well; the prices of the three materials of the demo flow's list match
``whatsapp_ia.demo.DEMO_MATERIALS`` (a test checks it). Pages have a real text layer (Helvetica, WinAnsi)
and some colour (a header band, a swatch per material), so the page images the AI sends look like a
catalog. The output is deterministic: running it again writes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from whatsapp_ia.pdf_file import pdf_file

OUT = Path(__file__).resolve().parent / "catalogo-demo.pdf"
WIDTH, HEIGHT = 595, 842  # A4 in points
MARGIN = 48
GREEN = (0.027, 0.369, 0.329)  # the admin's WhatsApp green, #075e54
INK = (0.13, 0.13, 0.13)
GREY = (0.38, 0.38, 0.38)


@dataclass(frozen=True)
class Product:
    title: str
    sentences: str  # whole sentences: what it is, its price with its unit, its reference
    swatch: tuple[float, float, float] | None = None
    lead_in: bool = False  # the title in bold at the start of its paragraph ("Garantía: ..."), not above it


@dataclass(frozen=True)
class Page:
    title: str
    intro: str
    products: tuple[Product, ...]


PAGES: tuple[Page, ...] = (
    Page(
        "Mesones de granito",
        "Catálogo 2025 de Mesones del Valle. Todos los precios son por metro cuadrado (m²) e incluyen el "
        "corte, el pulido de cantos y la instalación en el área metropolitana.",
        (
            Product(
                "Granito Negro San Gabriel",
                "Granito brasileño negro, pulido brillante, de 2 cm de espesor, resistente al calor y a los "
                "rayones. El mesón de granito Negro San Gabriel cuesta $420.000 por m². Referencia GR-NEG-SG.",
                (0.08, 0.08, 0.09),
            ),
            Product(
                "Granito Blanco Dallas",
                "Granito claro con vetas grises y negras, de 2 cm de espesor, ideal para cocinas luminosas. "
                "El mesón de granito Blanco Dallas cuesta $390.000 por m². Referencia GR-BL-DA.",
                (0.86, 0.85, 0.82),
            ),
            Product(
                "Granito Gris Mara",
                "Granito gris de grano fino, el más económico de la línea, de 2 cm de espesor. El mesón de "
                "granito Gris Mara cuesta $350.000 por m². Referencia GR-GR-MA.",
                (0.55, 0.55, 0.57),
            ),
        ),
    ),
    Page(
        "Mesones de cuarzo",
        "El cuarzo compacto no es poroso: no se mancha con vino, café ni aceite y no necesita sellado.",
        (
            Product(
                "Cuarzo Blanco Polar",
                "Cuarzo blanco puro, ideal para cocinas de uso intenso, con garantía de 10 años. El mesón de "
                "cuarzo Blanco Polar cuesta $610.000 por m². Referencia CZ-BL-PO.",
                (0.97, 0.97, 0.96),
            ),
            Product(
                "Cuarzo Gris Oxford",
                "Cuarzo gris oscuro de acabado mate que disimula las huellas. El mesón de cuarzo Gris Oxford "
                "cuesta $640.000 por m². Referencia CZ-GR-OX.",
                (0.35, 0.36, 0.38),
            ),
            Product(
                "Cuarzo Calacatta",
                "Cuarzo blanco con vetas doradas que imita el mármol de Carrara. El mesón de cuarzo Calacatta "
                "cuesta $780.000 por m². Referencia CZ-CA-LA.",
                (0.93, 0.90, 0.84),
            ),
        ),
    ),
    Page(
        "Mármol y piedra sinterizada",
        "El mármol es una piedra natural más delicada: recomendado para baños, barras y zonas de poco uso.",
        (
            Product(
                "Mármol Crema Marfil",
                "Mármol español color crema, acabado brillante, de 2 cm de espesor. El mesón de mármol Crema "
                "Marfil cuesta $560.000 por m². Referencia MA-CR-MA.",
                (0.90, 0.84, 0.70),
            ),
            Product(
                "Sinterizado Negro Marquina",
                "Piedra sinterizada de 1,2 cm, resiste el calor directo de las ollas y los rayos UV, apta "
                "para exteriores. El mesón sinterizado Negro Marquina cuesta $890.000 por m². "
                "Referencia SI-NE-MQ.",
                (0.12, 0.12, 0.13),
            ),
        ),
    ),
    Page(
        "Lavaplatos y grifería",
        "Los lavaplatos se entregan con el corte del mesón hecho a la medida, sin costo adicional.",
        (
            Product(
                "Lavaplatos de acero inoxidable",
                "Lavaplatos de sobreponer en acero inoxidable de 84 x 50 cm, con escurridor. El lavaplatos de "
                "acero inoxidable cuesta $389.900. Referencia LV-AC-84.",
                (0.75, 0.77, 0.80),
            ),
            Product(
                "Lavaplatos doble de submontar",
                "Lavaplatos de dos pozuelos en acero inoxidable, para instalar por debajo del mesón. El "
                "lavaplatos doble cuesta $529.000. Referencia LV-DO-86.",
                (0.68, 0.70, 0.73),
            ),
            Product(
                "Grifería monocontrol",
                "Grifería monocontrol cromada para cocina, con ducha extraíble. La grifería monocontrol cuesta "
                "$215.000. Referencia GF-MO-01.",
                (0.80, 0.80, 0.82),
            ),
            Product(
                "Grifería con sensor",
                "Grifería de cocina que abre el agua sola al acercar las manos, con sensor de movimiento y "
                "baterías incluidas. La grifería con sensor cuesta $398.000. Referencia GF-SE-02.",
                (0.60, 0.62, 0.66),
            ),
        ),
    ),
    Page(
        "Servicios, envíos y garantía",
        "Atendemos de lunes a sábado, de 8:00 a 18:00, en la tienda y por WhatsApp.",
        (
            Product(
                "Visita de medición",
                "La visita de medición no tiene costo en el área metropolitana; un técnico toma las medidas "
                "exactas y confirma la cotización.",
                lead_in=True,
            ),
            Product(
                "Instalación",
                "La instalación está incluida en el precio por m² dentro del área metropolitana. Fuera de "
                "ella, la instalación cuesta $180.000 por mesón.",
                lead_in=True,
            ),
            Product(
                "Tiempo de entrega",
                "El tiempo de entrega es de 8 días hábiles después de la visita de medición.",
                lead_in=True,
            ),
            Product(
                "Envíos",
                "Enviamos mesones a Medellín, Cali, Bucaramanga y Barranquilla por transportadora. El envío "
                "a otras ciudades cuesta $250.000 por mesón y tarda 5 días hábiles más.",
                lead_in=True,
            ),
            Product(
                "Garantía",
                "Los mesones de cuarzo tienen garantía de 10 años y los de granito de 5 años. La garantía "
                "de la instalación es de 1 año y cubre fisuras y despegues.",
                lead_in=True,
            ),
            Product(
                "Formas de pago",
                "Se paga un anticipo del 50% al aprobar la cotización y el saldo el día de la instalación. "
                "Aceptamos transferencia, tarjeta de crédito y pago en efectivo.",
                lead_in=True,
            ),
        ),
    ),
)

# Helvetica's advance widths (1/1000 em) for the characters used here; others count as 556.
_NARROW = {" ": 278, ",": 278, ".": 278, ":": 278, ";": 278, "i": 222, "l": 222, "j": 222, "í": 278, "I": 278}
_NARROW |= {"f": 278, "t": 278, "r": 333, "(": 333, ")": 333, "-": 333, "¡": 333, "¿": 611}
_WIDE = {"m": 833, "w": 722, "M": 833, "W": 944, "%": 889, "²": 333}


def _width(text: str, size: float, bold: bool = False) -> float:
    units = sum(_NARROW.get(c, _WIDE.get(c, 722 if c.isupper() else 556)) for c in text)
    return units * size / 1000 * (1.05 if bold else 1.0)


def _wrap(text: str, size: float, width: float, *, indent: float = 0.0) -> list[str]:
    """Words packed into lines of at most ``width`` points (the first line starts ``indent`` points in)."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and _width(candidate, size) + (0.0 if lines else indent) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines


def _escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")


def _rgb(colour: tuple[float, float, float], op: str) -> bytes:
    red, green, blue = colour
    return f"{red:.3f} {green:.3f} {blue:.3f} {op}".encode()


def _text(x: float, y: float, text: str, *, font: str, size: float, colour: tuple[float, float, float]) -> bytes:
    return b"BT %s /%s %.1f Tf %.1f %.1f Td (%s) Tj ET" % (_rgb(colour, "rg"), font.encode(), size, x, y, _escape(text))


def _page_stream(number: int, page: Page) -> bytes:
    ops: list[bytes] = []
    # Header band with the store's name, the section title, then the intro.
    ops.append(_rgb(GREEN, "rg") + b" 0 %d %d 92 re f" % (HEIGHT - 92, WIDTH))
    ops.append(_text(MARGIN, HEIGHT - 40, "Mesones del Valle", font="F2", size=13, colour=(0.85, 0.96, 0.93)))
    ops.append(_text(MARGIN, HEIGHT - 72, page.title, font="F2", size=22, colour=(1, 1, 1)))
    y = HEIGHT - 124
    for line in _wrap(page.intro, 12, WIDTH - 2 * MARGIN):
        ops.append(_text(MARGIN, y, line, font="F1", size=12, colour=GREY))
        y -= 17
    y -= 18
    for product in page.products:
        if product.lead_in:
            y = _lead_in(ops, product, y)
            continue
        x = MARGIN + (84 if product.swatch else 0)
        lines = _wrap(product.sentences, 13, WIDTH - MARGIN - x)
        height = 24 + 18 * len(lines)
        if product.swatch:
            top = y + 16
            ops.append(_rgb((0.8, 0.8, 0.8), "RG") + b" 0.8 w")
            ops.append(_rgb(product.swatch, "rg") + b" %.1f %.1f 68 68 re B" % (MARGIN, top - 68))
        ops.append(_text(x, y, product.title, font="F2", size=16, colour=GREEN))
        y -= 24
        for line in lines:
            ops.append(_text(x, y, line, font="F1", size=13, colour=INK))
            y -= 18
        y -= (max(0, 72 - height) if product.swatch else 0) + 20
    # Footer: a rule and the page number.
    ops.append(_rgb((0.8, 0.8, 0.8), "RG") + b" 0.5 w %d 48 m %d 48 l S" % (MARGIN, WIDTH - MARGIN))
    footer = f"Mesones del Valle · Catálogo 2025 · página {number} de {len(PAGES)}"
    ops.append(_text(MARGIN, 32, footer, font="F1", size=9, colour=GREY))
    return b"\n".join(ops)


def _lead_in(ops: list[bytes], product: Product, y: float) -> float:
    """A paragraph opening with its title in bold, on the same line; returns the next paragraph's baseline."""
    label = f"{product.title}:"
    indent = _width(label + " ", 13, bold=True)
    lines = _wrap(product.sentences, 13, WIDTH - 2 * MARGIN, indent=indent)
    first = b"BT %s /F2 13 Tf %.1f %.1f Td (%s) Tj %s /F1 13 Tf ( %s) Tj ET" % (
        _rgb(GREEN, "rg"),
        MARGIN,
        y,
        _escape(label),
        _rgb(INK, "rg"),
        _escape(lines[0]),
    )
    ops.append(first)
    for line in lines[1:]:
        y -= 18
        ops.append(_text(MARGIN, y, line, font="F1", size=13, colour=INK))
    return y - 30


def build() -> bytes:
    """The PDF's bytes."""
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: page tree (filled in at the end)
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    fonts = b"<< /F1 3 0 R /F2 4 0 R >>"
    kids = []
    for number, page in enumerate(PAGES, start=1):
        stream = _page_stream(number, page)
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font %s >> /Contents %d 0 R >>"
            % (WIDTH, HEIGHT, fonts, len(objects))
        )
        kids.append(len(objects))
    info = b"<< /Title (Mesones del Valle - Cat\\341logo 2025) /Producer (build_demo_catalog.py) >>"
    return pdf_file(objects, kids, info=info)


if __name__ == "__main__":
    OUT.write_bytes(build())
    print(f"{OUT} ({OUT.stat().st_size} bytes, {len(PAGES)} pages)")
