"""The evaluation catalog of bench/catalog_quality.py: a Spanish hardware, plumbing and bathroom store.

    .venv/bin/python -m bench.catalog_eval.make_catalog      # writes bench/catalog_eval/catalogo.pdf

"Hidrocasa Ferretería y Baños", 25 A4 pages, 80 products (several reference styles, Colombian prices,
measures), near-duplicates (one line in several sizes, finishes or colours), products whose everyday name
is not the catalog's word ("grifería" for a "llave", "sanitario" for an "inodoro") or described only by what
they do, and seven pages of store policies in plain prose. Six pages are scanned: raster-only, 1-bit images
with a slight skew and no text layer, so only OCR reads them.

Layouts vary like a real catalog: multi-line product blocks, tables (one product per row, columns), one
product per line lists, prose. Pure data (PAGES, PRODUCTS, page_text) + a deterministic PDF writer
(whatsapp_ia.pdf_file; the same file for the same data: no dates, no random ids). Nothing here imports Django.
"""

from __future__ import annotations

import hashlib
import textwrap
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from whatsapp_ia.pdf_file import pdf_file

HERE = Path(__file__).resolve().parent
PDF_PATH = HERE / "catalogo.pdf"
A4 = (595, 842)
FONT_REGULAR = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SCAN_DPI = 200
SCAN_SKEW_DEGREES = 0.4


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Product:
    key: str
    page: int
    name: str
    ref: str
    price: str
    details: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()  # table pages: the middle columns (finish, power, size...)


@dataclass(frozen=True)
class Row:
    """One printed line: cells at x positions (points from the left edge); style 'title', 'head', 'bold' or ''."""

    cells: tuple[str, ...]
    xs: tuple[int, ...] = (56,)
    style: str = ""

    @property
    def text(self) -> str:
        return "  ".join(c for c in self.cells if c)


@dataclass
class Page:
    number: int
    title: str
    scanned: bool = False
    rows: list[Row] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)

    @property
    def footer(self) -> str:
        return f"Hidrocasa Ferretería y Baños · Catálogo 2025 · Página {self.number}"

    @property
    def lines(self) -> list[str]:
        return [row.text for row in self.rows] + [self.footer]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _blank() -> Row:
    return Row(("",))


def _title(text: str) -> Row:
    return Row((text,), style="title")


def _prose(text: str, width: int = 92) -> list[Row]:
    return [Row((line,)) for line in textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)]


#: A second line of description for some block products (what a real catalog says besides the facts).
EXTRA: dict[str, str] = {
    "gk_mon": "Aireador antisalpicaduras y mangueras de abasto incluidas. Para lavaplatos de una o dos pozas.",
    "gk_ext_ng": "Acabado en pintura electrostática que no muestra huellas. Se instala en un solo orificio.",
    "gk_ext_cr": "Acabado cromado brillante de fácil limpieza. Se instala en un solo orificio.",
    "gk_par": "Para cocinas con la toma de agua en la pared. Manijas de cuarto de vuelta.",
    "gk_sen": "Incluye control manual de temperatura y modo de limpieza. Ahorra hasta la mitad del agua.",
    "du_elec": "Resistencia de cobre con protección contra sobrecalentamiento. Requiere un circuito independiente.",
    "du_llu20": "Chorro amplio tipo cascada. Brazo de pared no incluido.",
    "du_llu30": "Para baños con buena presión de agua. Brazo de pared no incluido.",
    "du_tel": "Práctica para bañar mascotas y limpiar la cabina.",
    "du_combo": "Cartucho cerámico y placa de acero inoxidable.",
    "lm_sob": "Se instala sobre el mueble y necesita grifería alta.",
    "lm_ped": "El pedestal oculta el sifón y las mangueras.",
    "mb_60": "Cajón con cierre lento, resistente a la humedad del baño.",
    "mb_80": "Cajones con cierre lento, resistentes a la humedad del baño.",
    "es_led": "Luz blanca; se conecta a cualquier toma de 120 V.",
    "ca_g12": "Encendido electrónico y válvula de seguridad.",
    "ca_g16": "Recomendado para casas con dos baños.",
    "ca_e50": "No necesita gas ni ducto de salida. Termostato regulable.",
    "pt_v1gl": "Acabado mate lavable, bajo olor, secado en 1 hora.",
    "pt_v1cu": "Para fachadas e interiores, acabado mate lavable.",
    "pt_es": "Secado al tacto en 4 horas.",
    "pt_im": "Aplique dos manos con brocha o rodillo sobre la superficie limpia.",
    "pt_ah": "Se aplica sobre el muro seco y limpio.",
    "ce_dig": "Se carga por USB; avisa cuando la batería está baja.",
    "ce_alc": "Para puertas de 3,5 a 4,5 cm de espesor.",
    "ce_bano": "Para puertas de 3,5 a 4,5 cm de espesor.",
    "lp_1": "Bordes redondeados, fáciles de limpiar.",
    "lp_2": "Escurridor a la derecha o a la izquierda.",
    "lp_gr": "Resiste golpes y ollas calientes.",
    "tg_25": "Obligatoria en restaurantes; se instala bajo el lavaplatos.",
    "pi_cer": "Para interiores.",
    "pi_car": "Para pisos y paredes.",
    "pi_peg": "Para pisos y muros interiores.",
    "pi_boq": "Con antihongos.",
}


def _blocks(page: Page, products: list[Product], *, label: str, price_inline: bool = False) -> None:
    """Multi-line product blocks: name (bold), details, reference, price."""
    for p in products:
        page.rows.append(Row((p.name,), style="bold"))
        for line in (*p.details, EXTRA.get(p.key, "")):
            page.rows.extend(_prose(line, width=88))
        if price_inline:
            page.rows.append(Row((f"{label} {p.ref} — {p.price}",)))
        else:
            page.rows.append(Row((f"{label} {p.ref}",)))
            page.rows.append(Row((f"Precio: {p.price}",)))
        page.rows.append(_blank())
        page.products.append(p)


def _table(page: Page, header: tuple[str, ...], xs: tuple[int, ...], products: list[Product]) -> None:
    """One product per row; columns: name, the product's cells, reference, price."""
    page.rows.append(Row(header, xs, style="head"))
    for p in products:
        page.rows.append(Row((p.name, *p.cells, p.ref, p.price), xs))
        page.products.append(p)


def _list(page: Page, products: list[Product], fmt: str) -> None:
    """One product per line, e.g. fmt='{ref} · {name} · {price}'."""
    for p in products:
        page.rows.append(Row((fmt.format(ref=p.ref, name=p.name, price=p.price),)))
        page.products.append(p)


def _p(key: str, page: int, name: str, ref: str, price: str, *details: str, cells: tuple[str, ...] = ()) -> Product:
    return Product(key=key, page=page, name=name, ref=ref, price=price, details=tuple(details), cells=cells)


def build_pages() -> list[Page]:
    pages: list[Page] = []

    # 1 -- cover and contents
    pg = Page(1, "Portada")
    pg.rows += [
        _title("Hidrocasa Ferretería y Baños"),
        Row(("Catálogo de productos 2025",), style="bold"),
        _blank(),
        *_prose(
            "Todo para el baño, la cocina, la plomería y la obra: griferías, sanitarios, calentadores, tubería, "
            "herramientas, pinturas y pisos. Precios en pesos colombianos, IVA incluido, válidos hasta el 31 de "
            "diciembre de 2025 o hasta agotar existencias."
        ),
        _blank(),
        Row(("Contenido",), style="head"),
        Row(("Grifería para cocina", "2"), (56, 400)),
        Row(("Grifería para lavamanos", "3"), (56, 400)),
        Row(("Duchas y regaderas", "4"), (56, 400)),
        Row(("Sanitarios", "5"), (56, 400)),
        Row(("Lavamanos y muebles de baño", "6"), (56, 400)),
        Row(("Calentadores de agua", "7"), (56, 400)),
        Row(("Tubería PVC", "8"), (56, 400)),
        Row(("Agua caliente: CPVC y PEX", "9"), (56, 400)),
        Row(("Herramientas manuales", "10"), (56, 400)),
        Row(("Herramientas eléctricas", "11"), (56, 400)),
        Row(("Pinturas e impermeabilizantes", "12"), (56, 400)),
        Row(("Accesorios de baño", "13"), (56, 400)),
        Row(("Cerraduras y seguridad", "14"), (56, 400)),
        Row(("Cocina: lavaplatos y accesorios", "15"), (56, 400)),
        Row(("Tanques y bombas", "16"), (56, 400)),
        Row(("Material eléctrico", "17"), (56, 400)),
        Row(("Pisos y enchapes", "18"), (56, 400)),
        Row(("Envíos, instalación, garantía, cambios, pagos, tiendas", "19-25"), (56, 400)),
    ]
    pages.append(pg)

    # 2 -- kitchen faucets: multi-line blocks
    pg = Page(2, "Grifería para cocina")
    pg.rows += [
        _title("Grifería para cocina"),
        _blank(),
        *_prose(
            "Griferías para cocina con cuerpo de latón y garantía de fábrica. Elija el modelo según el lavaplatos: "
            "las de cuello alto dejan espacio para lavar ollas grandes y las extraíbles llegan a todos los rincones "
            "de la poza."
        ),
        _blank(),
    ]
    _blocks(
        pg,
        [
            _p(
                "gk_mon",
                2,
                "Grifería monocontrol para cocina cuello alto",
                "GC-MON-01",
                "$289.900",
                "Cromada, giro de 360°, cartucho cerámico de 35 mm. Altura total 38 cm.",
            ),
            _p(
                "gk_ext_ng",
                2,
                "Grifería de cocina con ducha extraíble negro mate",
                "GC-EXT-02",
                "$459.000",
                "Manguera extraíble de 1,5 m con dos chorros: lluvia y cascada.",
            ),
            _p(
                "gk_ext_cr",
                2,
                "Grifería de cocina con ducha extraíble cromada",
                "GC-EXT-03",
                "$419.000",
                "Manguera extraíble de 1,5 m con dos chorros: lluvia y cascada.",
            ),
            _p(
                "gk_par",
                2,
                "Grifería de pared para lavaplatos dos manijas",
                "GC-PAR-04",
                "$149.900",
                "Bronce cromado, pico giratorio de 20 cm.",
            ),
            _p(
                "gk_sen",
                2,
                "Grifería Sensa para cocina",
                "GC-SEN-05",
                "$689.000",
                "Abre el agua sola al acercar las manos al sensor infrarrojo y la cierra a los 3 segundos. "
                "Funciona con 4 pilas AA.",
            ),
        ],
        label="REF:",
    )
    pages.append(pg)

    # 3 -- basin faucets: table
    pg = Page(3, "Grifería para lavamanos")
    pg.rows += [
        _title("Grifería para lavamanos"),
        _blank(),
        *_prose(
            "Griferías para el lavamanos del baño en tres acabados. Los modelos bajos son para lavamanos de empotrar "
            "o de pedestal; el alto, para lavamanos de sobreponer."
        ),
        _blank(),
    ]
    xs = (56, 300, 400, 490)
    _table(
        pg,
        ("Producto", "Acabado", "Ref.", "Precio"),
        xs,
        [
            _p("gl_cr", 3, "Monocontrol lavamanos bajo", "HL-3101", "$179.900", cells=("Cromado",)),
            _p("gl_ng", 3, "Monocontrol lavamanos bajo", "HL-3102", "$219.900", cells=("Negro mate",)),
            _p("gl_do", 3, "Monocontrol lavamanos bajo", "HL-3103", "$259.900", cells=("Dorado cepillado",)),
            _p("gl_alto", 3, "Monocontrol lavamanos alto", "HL-3110", "$239.900", cells=("Cromado",)),
            _p("gl_temp", 3, "Grifería temporizada antivandálica", "HL-3120", "$199.000", cells=("Cromado",)),
            _p("gl_cent", 3, 'Mezclador centerset 4" dos manijas', "HL-3130", "$129.900", cells=("Cromado",)),
        ],
    )
    pg.rows += [
        _blank(),
        *_prose(
            "El monocontrol alto es para lavamanos de sobreponer. La grifería temporizada se cierra sola a los "
            "7 segundos: ideal para baños de oficinas y locales. Todas incluyen mangueras de abasto de 40 cm, "
            "cartucho cerámico y aireador."
        ),
    ]
    pages.append(pg)

    # 4 -- showers: blocks, price inline
    pg = Page(4, "Duchas y regaderas")
    pg.rows += [
        _title("Duchas y regaderas"),
        _blank(),
        *_prose(
            "Duchas y regaderas para renovar el baño sin romper paredes. Las regaderas tipo lluvia dan un chorro "
            "suave y amplio; la ducha eléctrica es la solución cuando no hay calentador."
        ),
        _blank(),
    ]
    _blocks(
        pg,
        [
            _p(
                "du_elec",
                4,
                "Ducha eléctrica Termo 3 temperaturas",
                "DU-110",
                "$89.900",
                "Calienta el agua al instante, 120 V, 4.500 W. Incluye brazo y regadera.",
            ),
            _p(
                "du_llu20",
                4,
                "Regadera tipo lluvia cuadrada 20 x 20 cm",
                "DU-220",
                "$119.900",
                "Acero inoxidable, sistema antisarro.",
            ),
            _p(
                "du_llu30",
                4,
                "Regadera tipo lluvia cuadrada 30 x 30 cm",
                "DU-230",
                "$169.900",
                "Acero inoxidable, sistema antisarro.",
            ),
            _p(
                "du_tel",
                4,
                "Ducha teléfono con soporte",
                "DU-310",
                "$64.900",
                "Manguera de 1,5 m y 5 funciones de chorro.",
            ),
            _p(
                "du_combo",
                4,
                "Combo ducha monocontrol empotrado",
                "DU-400",
                "$389.000",
                "Mezclador de pared, regadera de 20 cm y brazo de 40 cm.",
            ),
        ],
        label="Cód.",
        price_inline=True,
    )
    pages.append(pg)

    # 5 -- toilets: table with measures
    pg = Page(5, "Sanitarios")
    pg.rows += [
        _title("Sanitarios"),
        _blank(),
        *_prose(
            "Sanitarios de porcelana vitrificada con descarga ahorradora. Compare el consumo por descarga y las "
            "medidas antes de comprar."
        ),
        _blank(),
    ]
    xs = (56, 250, 330, 440, 515)
    _table(
        pg,
        ("Modelo", "Descarga", "Medidas", "Ref.", "Precio"),
        xs,
        [
            _p("sa_lyon", 5, "Sanitario una pieza Lyon", "SA-LYON-1P", "$749.900", cells=("4,8 L", "68 x 37 x 71 cm")),
            _p(
                "sa_ibz",
                5,
                "Sanitario dos piezas Ibiza blanco",
                "SA-IBZ-2P",
                "$389.900",
                cells=("6 L", "70 x 36 x 77 cm"),
            ),
            _p(
                "sa_ibzh",
                5,
                "Sanitario dos piezas Ibiza hueso",
                "SA-IBZ-2PH",
                "$409.900",
                cells=("6 L", "70 x 36 x 77 cm"),
            ),
            _p("sa_kids", 5, "Sanitario infantil Kids", "SA-KID-01", "$469.000", cells=("4 L", "52 x 30 x 50 cm")),
            _p(
                "sa_mil",
                5,
                "Sanitario suspendido Milano",
                "SA-MIL-SP",
                "$1.190.000",
                cells=("3/6 L", "54 x 36 x 35 cm"),
            ),
            _p("sa_tapa", 5, "Asiento de cierre lento", "SA-TAP-CL", "$79.900", cells=("", "universal")),
        ],
    )
    pg.rows += [
        _blank(),
        *_prose(
            "Todos los sanitarios incluyen kit de instalación: brida de cera, tornillos y manguera de abasto. "
            "El Milano se fija a la pared y necesita un tanque de empotrar, que se vende por separado."
        ),
    ]
    pages.append(pg)

    # 6 -- basins and vanities: blocks
    pg = Page(6, "Lavamanos y muebles de baño")
    pg.rows += [
        _title("Lavamanos y muebles de baño"),
        _blank(),
        *_prose(
            "Lavamanos de porcelana y muebles de baño listos para instalar. Los muebles flotantes dejan el piso "
            "libre y hacen ver el baño más amplio."
        ),
        _blank(),
    ]
    _blocks(
        pg,
        [
            _p(
                "lm_sob",
                6,
                "Lavamanos de sobreponer redondo 40 cm",
                "LM-SOB-40",
                "$159.900",
                "Porcelana blanca, diámetro 40 cm.",
            ),
            _p(
                "lm_ped",
                6,
                "Lavamanos de pedestal Clásico",
                "LM-PED-56",
                "$229.900",
                "Medidas 56 x 45 cm, pedestal incluido.",
            ),
            _p(
                "mb_60",
                6,
                "Mueble flotante con lavamanos 60 cm",
                "MB-FLO-60",
                "$709.000",
                "Madera RH color roble, un cajón, lavamanos de cerámica incluido.",
            ),
            _p(
                "mb_80",
                6,
                "Mueble flotante con lavamanos 80 cm",
                "MB-FLO-80",
                "$849.000",
                "Madera RH color roble, dos cajones, lavamanos de cerámica incluido.",
            ),
            _p(
                "es_led", 6, "Espejo con luz LED 60 x 80 cm", "ES-LED-6080", "$329.900", "Botón táctil y antiempañante."
            ),
        ],
        label="Referencia:",
    )
    pages.append(pg)

    # 7 -- water heaters (SCANNED): blocks
    pg = Page(7, "Calentadores de agua", scanned=True)
    pg.rows += [
        _title("Calentadores de agua"),
        _blank(),
        *_prose(
            "Agua caliente para toda la familia. Los calentadores de paso calientan el agua solo mientras está "
            "abierta la llave; el de acumulación mantiene un tanque de agua caliente."
        ),
        _blank(),
    ]
    _blocks(
        pg,
        [
            _p(
                "ca_g10",
                7,
                "Calentador de paso a gas natural 10 litros",
                "CAL-G10",
                "$859.000",
                "Caudal de 10 litros por minuto, encendido automático con pilas, tiro forzado.",
            ),
            _p(
                "ca_g12",
                7,
                "Calentador de paso a gas natural 12 litros",
                "CAL-G12",
                "$989.000",
                "Caudal de 12 litros por minuto, pantalla digital de temperatura.",
            ),
            _p(
                "ca_g16",
                7,
                "Calentador de paso a gas natural 16 litros",
                "CAL-G16",
                "$1.349.000",
                "Caudal de 16 litros por minuto, para dos duchas al mismo tiempo.",
            ),
            _p(
                "ca_e50",
                7,
                "Calentador eléctrico de acumulación 50 litros",
                "CAL-E50",
                "$799.000",
                "Tanque vitrificado de 50 litros, 1.500 W, 120 V.",
            ),
        ],
        label="Ref.",
    )
    pages.append(pg)

    # 8 -- PVC pipe: one product per line, bare numeric codes
    pg = Page(8, "Tubería PVC")
    pg.rows += [
        _title("Tubería PVC"),
        _blank(),
        *_prose("Tubería de PVC para instalaciones hidráulicas y sanitarias de casas y edificios."),
        _blank(),
        Row(("Código · Descripción · Precio",), style="head"),
    ]
    _list(
        pg,
        [
            _p("pvc_12", 8, 'Tubo PVC presión 1/2" x 6 m', "7702101", "$21.500"),
            _p("pvc_34", 8, 'Tubo PVC presión 3/4" x 6 m', "7702102", "$32.900"),
            _p("pvc_1", 8, 'Tubo PVC presión 1" x 6 m', "7702103", "$48.700"),
            _p("pvc_s2", 8, 'Tubo PVC sanitario 2" x 6 m', "7702201", "$39.900"),
            _p("pvc_s4", 8, 'Tubo PVC sanitario 4" x 6 m', "7702204", "$90.900"),
            _p("pvc_codo", 8, 'Codo PVC presión 1/2" x 90°', "7702301", "$1.200"),
            _p("pvc_tee", 8, 'Tee PVC presión 1/2"', "7702311", "$1.500"),
            _p("pvc_sold", 8, "Soldadura líquida PVC 1/4 de galón", "7702401", "$38.900"),
        ],
        "{ref} · {name} · {price}",
    )
    pg.rows += [
        _blank(),
        *_prose(
            "La tubería de presión es para agua fría. La sanitaria es para desagües y bajantes. "
            "Se vende por tubo completo de 6 m. Aplique soldadura líquida en cada unión y espere 15 minutos "
            "antes de dar presión al agua."
        ),
    ]
    pages.append(pg)

    # 9 -- hot water pipe: one product per line with "Ref."
    pg = Page(9, "Agua caliente: CPVC y PEX")
    pg.rows += [
        _title("Agua caliente: CPVC y PEX"),
        _blank(),
        *_prose("Para llevar el agua caliente del calentador a duchas, lavamanos y lavaplatos."),
        _blank(),
    ]
    _list(
        pg,
        [
            _p("cp_12", 9, 'Tubo CPVC 1/2" x 3 m', "CP-050", "$27.900"),
            _p("cp_34", 9, 'Tubo CPVC 3/4" x 3 m', "CP-075", "$44.900"),
            _p("cp_sold", 9, "Soldadura CPVC amarilla 1/8 de galón", "CP-SOL", "$26.500"),
            _p("px_100", 9, 'Tubería PEX-AL-PEX 1/2" rollo de 100 m', "PX-100", "$589.000"),
            _p("ab_40", 9, "Manguera de abasto flexible 40 cm", "AB-040", "$12.900"),
            _p("ab_60", 9, "Manguera de abasto flexible 60 cm", "AB-060", "$15.900"),
        ],
        "{name} — Ref. {ref} — {price}",
    )
    pg.rows += [
        _blank(),
        *_prose(
            "El CPVC soporta agua hasta 82 °C; el PVC de presión es solo para agua fría. La tubería PEX-AL-PEX es "
            "flexible, se dobla a mano y sirve para agua fría y caliente. La manguera de abasto conecta el tubo de "
            "la pared con la grifería o el sanitario."
        ),
    ]
    pages.append(pg)

    # 10 -- hand tools (SCANNED): one product per line
    pg = Page(10, "Herramientas manuales", scanned=True)
    pg.rows += [
        _title("Herramientas manuales"),
        _blank(),
        *_prose("Herramientas para plomería y mantenimiento del hogar."),
        _blank(),
    ]
    _list(
        pg,
        [
            _p("hm_lt14", 10, 'Llave de tubo tipo stillson 14"', "HM-LT14", "$69.900"),
            _p("hm_lt18", 10, 'Llave de tubo tipo stillson 18"', "HM-LT18", "$94.900"),
            _p("hm_ct", 10, "Cortatubos para PVC hasta 42 mm", "HM-CT42", "$45.900"),
            _p("hm_ds", 10, "Destapador de cañerías manual con cable de 5 m", "HM-DS5", "$59.900"),
            _p("hm_chupa", 10, "Chupa destapadora de caucho", "HM-CH01", "$14.900"),
            _p("hm_tf", 10, 'Cinta teflón 1/2" x 10 m', "HM-TF10", "$2.500"),
        ],
        "{name}  Ref. {ref}  {price}",
    )
    pg.rows += [
        _blank(),
        *_prose(
            "El destapador de cable llega hasta 5 m dentro del desagüe sin desarmar la tubería. "
            "Mangos con recubrimiento antideslizante."
        ),
    ]
    pages.append(pg)

    # 11 -- power tools: table
    pg = Page(11, "Herramientas eléctricas")
    pg.rows += [
        _title("Herramientas eléctricas"),
        _blank(),
        *_prose("Herramientas eléctricas para la obra y el hogar, con maletín y accesorios básicos."),
        _blank(),
    ]
    xs = (56, 300, 380, 490)
    _table(
        pg,
        ("Herramienta", "Potencia", "Ref.", "Precio"),
        xs,
        [
            _p("he_tp", 11, 'Taladro percutor 1/2"', "HE-TP650", "$249.900", cells=("650 W",)),
            _p("he_rm", 11, "Rotomartillo SDS plus", "HE-RM800", "$459.900", cells=("800 W",)),
            _p("he_pa", 11, 'Pulidora angular 4 1/2"', "HE-PA850", "$189.900", cells=("850 W",)),
            _p("he_sc", 11, "Sierra caladora", "HE-SC500", "$209.900", cells=("500 W",)),
            _p("he_at", 11, "Atornillador inalámbrico con 2 baterías", "HE-AT12", "$279.900", cells=("12 V",)),
        ],
    )
    pg.rows += [
        _blank(),
        *_prose(
            "Todas las herramientas eléctricas funcionan a 120 V (salvo el atornillador, de batería) y traen maletín. "
            "Brocas y discos se venden por separado."
        ),
    ]
    pages.append(pg)

    # 12 -- paints: blocks with "Código:"
    pg = Page(12, "Pinturas e impermeabilizantes")
    pg.rows += [
        _title("Pinturas e impermeabilizantes"),
        _blank(),
        *_prose("Pinturas para interiores y exteriores, y protección contra la humedad y las filtraciones."),
        _blank(),
    ]
    _blocks(
        pg,
        [
            _p(
                "pt_v1gl",
                12,
                "Pintura vinilo tipo 1 blanco, galón",
                "PT-V1-GL",
                "$70.900",
                "Rinde 35 m² por galón a dos manos.",
            ),
            _p(
                "pt_v1cu",
                12,
                "Pintura vinilo tipo 1 blanco, cuñete de 5 galones",
                "PT-V1-CU",
                "$299.900",
                "Rinde 175 m² a dos manos.",
            ),
            _p(
                "pt_es",
                12,
                "Esmalte sintético brillante, galón",
                "PT-ES-GL",
                "$95.900",
                "Para rejas, puertas y madera. 14 colores.",
            ),
            _p(
                "pt_im",
                12,
                "Impermeabilizante acrílico para techos y terrazas, cuñete de 5 galones",
                "PT-IM-CU",
                "$349.900",
                "Forma una capa elástica que sella las grietas y evita goteras y filtraciones. Color rojo o blanco.",
            ),
            _p(
                "pt_ah",
                12,
                "Pintura antihumedad para muros interiores, galón",
                "PT-AH-GL",
                "$139.900",
                "Bloquea el salitre y evita las manchas de moho en paredes húmedas.",
            ),
        ],
        label="Código:",
    )
    pages.append(pg)

    # 13 -- bathroom accessories: one product per line
    pg = Page(13, "Accesorios de baño")
    pg.rows += [
        _title("Accesorios de baño"),
        _blank(),
        *_prose(
            "Accesorios de acero inoxidable y vidrio que completan el baño. Se fijan con los chazos y tornillos "
            "incluidos."
        ),
        _blank(),
    ]
    _list(
        pg,
        [
            _p("ac_toa", 13, "Toallero de barra 60 cm en acero inoxidable", "AC-101", "$60.900"),
            _p("ac_ppl", 13, "Portarrollos de pared en acero inoxidable", "AC-102", "$34.900"),
            _p("ac_jab", 13, "Jabonera de pared en vidrio", "AC-103", "$29.900"),
            _p("ac_barra", 13, "Barra de apoyo de seguridad 60 cm, soporta 150 kg", "AC-110", "$199.900"),
            _p("ac_rej", 13, 'Rejilla de piso con sifón antiolores 3"', "AC-120", "$28.900"),
            _p("ac_cort", 13, "Tubo extensible para cortina de baño 110 a 200 cm", "AC-130", "$42.900"),
        ],
        "{name} — REF {ref} — {price}",
    )
    pg.rows += [
        _blank(),
        *_prose(
            "La barra de apoyo da seguridad a personas mayores al entrar y salir de la ducha; se fija con chazos "
            "a muros de ladrillo o concreto."
        ),
    ]
    pages.append(pg)

    # 14 -- locks (SCANNED): blocks
    pg = Page(14, "Cerraduras y seguridad", scanned=True)
    pg.rows += [
        _title("Cerraduras y seguridad"),
        _blank(),
        *_prose("Seguridad para las puertas de la casa y del negocio."),
        _blank(),
    ]
    _blocks(
        pg,
        [
            _p(
                "ce_dig",
                14,
                "Cerradura digital Smart Lock",
                "CE-DIG-01",
                "$699.000",
                "Abre con huella dactilar, clave numérica o tarjeta. Guarda hasta 100 huellas.",
            ),
            _p("ce_alc", 14, "Cerradura de pomo para alcoba, níquel", "CE-POM-02", "$49.900", "Con llave por fuera."),
            _p(
                "ce_bano",
                14,
                "Cerradura de pomo para baño, níquel",
                "CE-POM-03",
                "$52.900",
                "Con seguro de botón por dentro, sin llave.",
            ),
            _p(
                "ce_can",
                14,
                "Candado de seguridad 50 mm",
                "CE-CAN-50",
                "$40.900",
                "Cuerpo de bronce macizo y 3 llaves.",
            ),
        ],
        label="Código:",
        price_inline=True,
    )
    pages.append(pg)

    # 15 -- kitchen sinks: blocks with "SKU:"
    pg = Page(15, "Cocina: lavaplatos y accesorios")
    pg.rows += [
        _title("Cocina: lavaplatos y accesorios"),
        _blank(),
        *_prose("Lavaplatos para cocinas integrales y accesorios para el desagüe."),
        _blank(),
    ]
    _blocks(
        pg,
        [
            _p(
                "lp_1",
                15,
                "Lavaplatos de empotrar en acero inoxidable, una poza",
                "LP-5040",
                "$194.900",
                "Medidas 50 x 40 cm, calibre 20.",
            ),
            _p(
                "lp_2",
                15,
                "Lavaplatos de empotrar en acero inoxidable, dos pozas con escurridor",
                "LP-10050",
                "$359.900",
                "Medidas 100 x 50 cm, calibre 20.",
            ),
            _p(
                "lp_gr",
                15,
                "Lavaplatos de granito sintético negro, una poza",
                "LP-GRN78",
                "$629.000",
                "Medidas 78 x 48 cm.",
            ),
            _p(
                "tg_25",
                15,
                "Trampa de grasa plástica 25 litros",
                "TG-25",
                "$179.000",
                "Retiene la grasa antes de que llegue al desagüe y tape la tubería.",
            ),
            _p(
                "lp_can",
                15,
                'Canastilla de desagüe para lavaplatos 3 1/2"',
                "LP-CAN35",
                "$24.900",
                "Acero inoxidable, con tapón.",
            ),
        ],
        label="SKU:",
    )
    pages.append(pg)

    # 16 -- tanks and pumps (SCANNED): table
    pg = Page(16, "Tanques y bombas", scanned=True)
    pg.rows += [
        _title("Tanques y bombas"),
        _blank(),
        *_prose("Almacenamiento y presión de agua para la casa."),
        _blank(),
    ]
    xs = (56, 320, 430)
    _table(
        pg,
        ("Producto", "Ref.", "Precio"),
        xs,
        [
            _p("tq_500", 16, "Tanque de agua 500 litros", "TQ-500", "$399.000"),
            _p("tq_1000", 16, "Tanque de agua 1.000 litros", "TQ-1000", "$559.000"),
            _p("tq_2000", 16, "Tanque de agua 2.000 litros", "TQ-2000", "$999.000"),
            _p("bo_per", 16, "Bomba periférica 1/2 HP", "BO-P05", "$269.900"),
            _p("bo_hid", 16, "Equipo hidroflo 1 HP, tanque 24 litros", "BO-H1", "$1.290.000"),
        ],
    )
    pg.rows += [
        _blank(),
        *_prose(
            "Los tanques incluyen tapa de rosca y flotador. La bomba periférica sube el agua al tanque elevado. "
            "El hidroflo mantiene la presión constante en toda la casa.",
            width=70,
        ),
    ]
    pages.append(pg)

    # 17 -- electrical: one product per line
    pg = Page(17, "Material eléctrico")
    pg.rows += [
        _title("Material eléctrico"),
        _blank(),
        *_prose("Material eléctrico para el hogar, con certificado RETIE."),
        _blank(),
    ]
    _list(
        pg,
        [
            _p("el_ext", 17, "Extensión eléctrica 5 m, 3 tomas, calibre 16", "EL-EXT5", "$33.900"),
            _p("el_gfci", 17, "Toma GFCI con protección de falla a tierra 20 A", "EL-GFCI", "$65.900"),
            _p("el_led9", 17, "Bombillo LED 9 W luz blanca E27", "EL-LED9", "$6.900"),
            _p("el_led12", 17, "Bombillo LED 12 W luz blanca E27", "EL-LED12", "$8.900"),
            _p("el_led12c", 17, "Bombillo LED 12 W luz cálida E27", "EL-LED12C", "$9.500"),
            _p("el_cinta", 17, "Cinta aislante negra 18 m", "EL-CIN18", "$4.500"),
        ],
        "Ref. {ref}  {name}  {price}",
    )
    pg.rows += [
        _blank(),
        *_prose(
            "La toma GFCI corta la corriente sola cuando detecta una fuga: es la que exige la norma cerca de "
            "lavamanos, lavaplatos y duchas. Los bombillos LED duran hasta 25.000 horas y tienen base E27 "
            "estándar."
        ),
    ]
    pages.append(pg)

    # 18 -- floors (SCANNED): blocks, prices per m²
    pg = Page(18, "Pisos y enchapes", scanned=True)
    pg.rows += [
        _title("Pisos y enchapes"),
        _blank(),
        *_prose("Pisos y enchapes para cocinas, baños y zonas sociales, con todo lo necesario para pegarlos."),
        _blank(),
    ]
    _blocks(
        pg,
        [
            _p(
                "pi_cer",
                18,
                "Cerámica para piso Arena 45 x 45 cm",
                "PI-4545",
                "$43.900 el m²",
                "Caja de 2,03 m², tráfico medio.",
            ),
            _p(
                "pi_car",
                18,
                "Porcelanato Mármol Carrara 60 x 60 cm",
                "PI-6060",
                "$80.900 el m²",
                "Brillante, caja de 1,44 m².",
            ),
            _p(
                "pi_mad",
                18,
                "Porcelanato tipo madera 20 x 120 cm",
                "PI-20120",
                "$96.900 el m²",
                "Mate, caja de 1,44 m².",
            ),
            _p("pi_peg", 18, "Pegante cerámico gris, bulto de 25 kg", "PI-PEG25", "$25.900", "Rinde 4 m² por bulto."),
            _p(
                "pi_boq",
                18,
                "Boquilla sin arena, bolsa de 2 kg",
                "PI-BOQ2",
                "$13.900",
                "Para juntas de 1 a 3 mm, 12 colores.",
            ),
        ],
        label="SKU",
        price_inline=True,
    )
    pages.append(pg)

    # 19-25 -- policies in prose
    def policy(number: int, title: str, paragraphs: list[str], *, scanned: bool = False) -> None:
        pg = Page(number, title, scanned=scanned)
        pg.rows += [_title(title), _blank()]
        for text in paragraphs:
            pg.rows += [*_prose(text, width=70 if scanned else 92), _blank()]
        pages.append(pg)

    policy(
        19,
        "Envíos y entregas",
        [
            "Hacemos envíos a todo el país. En Bogotá, Soacha, Chía y Cota entregamos con vehículo propio: el envío "
            "cuesta $15.000 y el pedido llega en 1 a 2 días hábiles. Las compras superiores a $300.000 tienen envío "
            "gratis dentro de Bogotá.",
            "A Medellín, Cali, Bucaramanga, Barranquilla y Pereira enviamos por transportadora con un costo de $35.000 "
            "por caja de hasta 30 kg; el pedido llega en 3 a 5 días hábiles.",
            "A otros municipios el costo se cotiza según el peso y el destino, y la entrega toma de "
            "5 a 8 días hábiles.",
            "Los tanques de agua, los bultos de pegante y los cuñetes viajan como carga pesada: su envío fuera de "
            "Bogotá tiene un recargo de $25.000.",
            "Los pedidos confirmados antes de las 12:00 m. salen el mismo día. No hacemos entregas los domingos ni los "
            "festivos. Recibirás un mensaje con el número de guía para seguir tu pedido.",
        ],
    )
    policy(
        20,
        "Servicio de instalación",
        [
            "Nuestros técnicos instalan lo que compras en la tienda, en Bogotá y municipios cercanos. La visita se "
            "agenda dentro de los 3 días hábiles siguientes a la entrega.",
            "Tarifas de instalación: grifería de cocina o de lavamanos $60.000; sanitario $90.000; ducha eléctrica "
            "$70.000, con revisión del cableado; calentador a gas $180.000, con prueba de fugas; mueble de baño con "
            "lavamanos $120.000.",
            "El enchape se cotiza por metro cuadrado después de una visita técnica, que cuesta $40.000 y se descuenta "
            "si contratas la obra con nosotros.",
            "La instalación tiene 6 meses de garantía de mano de obra. Los calentadores a gas solo los instala "
            "personal certificado y necesitan un ducto de salida al exterior.",
        ],
    )
    policy(
        21,
        "Garantía",
        [
            "Todos los productos tienen garantía contra defectos de fabricación. Griferías: 5 años en el cartucho y "
            "1 año en el acabado. Sanitarios y lavamanos: 10 años en la porcelana. Calentadores: 2 años. Herramientas "
            "eléctricas, bombas e hidroflos: 1 año.",
            "Para hacer válida la garantía trae la factura y el producto a cualquiera de nuestras tiendas; el "
            "diagnóstico toma hasta 8 días hábiles.",
            "La garantía no cubre daños por mala instalación hecha por terceros, golpes, sarro ni el uso de químicos "
            "abrasivos en los acabados.",
        ],
    )
    policy(
        22,
        "Cambios y devoluciones",
        [
            "Tienes 30 días calendario desde la compra para cambiar o devolver un producto sin usar, en su empaque "
            "original y con la factura. El dinero se devuelve por el mismo medio de pago en máximo 10 días hábiles.",
            "No aceptamos devoluciones de pinturas preparadas en un color a la medida, de tubería cortada a la medida "
            "ni de material eléctrico ya instalado.",
            "Si un producto llegó roto o golpeado, avísanos dentro de las 48 horas siguientes a la entrega y envía "
            "fotos del empaque.",
        ],
    )
    policy(
        23,
        "Formas de pago",
        [
            "Recibimos efectivo, tarjetas débito y crédito (Visa, Mastercard y American Express), transferencia "
            "bancaria, PSE, Nequi y Daviplata.",
            "Con tarjeta de crédito puedes diferir tu compra de 1 a 36 cuotas.",
            "Pago contra entrega solo en Bogotá, para pedidos de hasta $2.000.000.",
            "Maestros de obra y constructores con cupo aprobado tienen crédito a 30 días.",
            "Todos los precios del catálogo incluyen IVA.",
        ],
        scanned=True,
    )
    policy(
        24,
        "Nuestras tiendas y horarios",
        [
            "Sede principal: Calle 13 # 68-45, Puente Aranda, Bogotá. Sede norte: Avenida Calle 145 # 19-20, Cedritos. "
            "Sede Chía: kilómetro 2 vía Chía-Cajicá.",
            "Horario: lunes a viernes de 7:00 a. m. a 6:00 p. m.; sábados de 8:00 a. m. a 4:00 p. m. Domingos y "
            "festivos de 9:00 a. m. a 2:00 p. m., solo en la sede norte.",
            "WhatsApp de ventas: 310 555 0142. Correo: ventas@hidrocasa.example.",
            "Parqueadero gratis para clientes en las tres sedes.",
        ],
    )
    policy(
        25,
        "Consejos y preguntas frecuentes",
        [
            "¿Qué calentador necesito? Para una ducha basta uno de 10 litros; para dos duchas al mismo tiempo, uno de "
            "16 litros.",
            "¿Cuánta pintura compro? Un galón de vinilo rinde unos 35 m² a dos manos; para una alcoba de 3 x 3 m "
            "suelen bastar dos galones.",
            "¿PVC o CPVC? El PVC de presión lleva agua fría; para el agua caliente del calentador use CPVC o "
            "PEX-AL-PEX.",
            "Limpieza de griferías: solo agua y jabón neutro con un paño suave. El vinagre y el cloro dañan "
            "el cromado.",
            "Sanitario que se queda goteando: casi siempre es el sapo (la válvula de descarga), que vendemos por "
            "$18.900 con la referencia SA-SAPO.",
        ],
    )
    return pages


PAGES: list[Page] = build_pages()
PRODUCTS: dict[str, Product] = {p.key: p for page in PAGES for p in page.products}
SCANNED_PAGES: list[int] = [pg.number for pg in PAGES if pg.scanned]


def page_text(number: int) -> str:
    """What page `number` (counted from 1) says, line by line (cells joined by two spaces)."""
    return PAGES[number - 1].text


# --------------------------------------------------------------------------- PDF


def _pdf_escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")


_STYLE = {"title": ("F2", 18, 26), "head": ("F2", 10, 16), "bold": ("F2", 11, 15), "": ("F1", 10, 14)}
_BLANK_HEIGHT = 8
_TOP = 790


def _layout(page: Page) -> list[tuple[str, int, int, int, str]]:
    """(font, size, x, y, text) for every cell, top to bottom, in points (PDF origin bottom-left)."""
    out = []
    y = _TOP
    for row in page.rows:
        if not row.text:
            y -= _BLANK_HEIGHT
            continue
        font, size, height = _STYLE[row.style]
        for x, cell in zip(row.xs, row.cells, strict=False):
            if cell:
                out.append((font, size, x, y, cell))
        y -= height
    if y < 50:
        raise ValueError(f"page {page.number} overflows ({y} pt left)")
    out.append(("F1", 8, 56, 30, page.footer))
    return out


def _text_content(page: Page) -> bytes:
    ops = []
    for font, size, x, y, text in _layout(page):
        ops.append(b"BT /%s %d Tf %d %d Td (%s) Tj ET" % (font.encode(), size, x, y, _pdf_escape(text)))
    return b"\n".join(ops)


def _scan_image(page: Page) -> tuple[int, int, bytes]:
    """The page as a 1-bit scan at SCAN_DPI, slightly skewed: (width, height, Flate-compressed rows)."""
    from PIL import Image, ImageDraw, ImageFont

    k = SCAN_DPI / 72
    size = (round(A4[0] * k), round(A4[1] * k))
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    fonts: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}
    for font, pt, x, y, text in _layout(page):
        key = (font, pt)
        if key not in fonts:
            fonts[key] = ImageFont.truetype(FONT_BOLD if font == "F2" else FONT_REGULAR, round(pt * k))
        draw.text((x * k, (A4[1] - y - pt) * k), text, font=fonts[key], fill=0)
    image = image.rotate(SCAN_SKEW_DEGREES, fillcolor=255, resample=Image.Resampling.BILINEAR)
    bilevel = image.point(lambda v: 255 if v > 150 else 0).convert("1", dither=Image.Dither.NONE)
    return size[0], size[1], zlib.compress(bilevel.tobytes(), 9)


def build_pdf(pages: list[Page] | None = None) -> bytes:
    """The catalog as PDF bytes: Helvetica text pages (WinAnsi, real text layer) and 1-bit image pages."""
    pages = PAGES if pages is None else pages
    objects: list[bytes | None] = [None, None]
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    regular = len(objects)
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    bold = len(objects)
    kids = []
    for page in pages:
        if page.scanned:
            width, height, data = _scan_image(page)
            objects.append(
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 1 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
                % (width, height, len(data), data)
            )
            image_id = len(objects)
            stream = b"q %d 0 0 %d 0 0 cm /Im1 Do Q" % A4
            resources = b"<< /XObject << /Im1 %d 0 R >> >>" % image_id
        else:
            stream = _text_content(page)
            resources = b"<< /Font << /F1 %d 0 R /F2 %d 0 R >> >>" % (regular, bold)
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources %s /Contents %d 0 R >>"
            % (*A4, resources, content_id)
        )
        kids.append(len(objects))
    return pdf_file(objects, kids)


def pdf_fingerprint(pdf: bytes) -> list[str]:
    """Per page, the SHA-256 of what it shows once decoded (its text operators, or its image's pixels): equal for
    two PDFs of the same pages even when another zlib compressed them differently."""
    import io

    from pypdf import PdfReader

    out = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        xobjects = page["/Resources"].get("/XObject")
        if xobjects:
            data = b"".join(xobjects[name].get_object().get_data() for name in sorted(xobjects))
        else:
            data = page.get_contents().get_data()
        out.append(hashlib.sha256(data).hexdigest())
    return out


def check_pages(pages: list[Page] | None = None) -> list[str]:
    """Problems in the page data: a product whose name/ref/price is not on its page, duplicate refs or prices,
    a page that overflows."""
    pages = PAGES if pages is None else pages
    problems = []
    refs: dict[str, str] = {}
    prices: dict[str, str] = {}
    for page in pages:
        text = page.text
        try:
            _layout(page)
        except ValueError as exc:
            problems.append(str(exc))
        for p in page.products:
            if p.page != page.number:
                problems.append(f"{p.key}: declared on page {p.page}, printed on page {page.number}")
            for value in (p.name, p.ref, p.price):
                if value not in text:
                    problems.append(f"{p.key}: {value!r} not on page {page.number}")
            if p.ref in refs:
                problems.append(f"{p.key}: reference {p.ref} also used by {refs[p.ref]}")
            refs[p.ref] = p.key
            price = p.price.split()[0]
            if price in prices:  # a fact must point at one product
                problems.append(f"{p.key}: price {price} also used by {prices[price]}")
            prices[price] = p.key
    return problems


def main() -> None:
    problems = check_pages()
    if problems:
        raise SystemExit("\n".join(problems))
    pdf = build_pdf()
    PDF_PATH.write_bytes(pdf)
    print(
        f"{PDF_PATH.relative_to(HERE.parent.parent)}: {len(PAGES)} pages ({len(SCANNED_PAGES)} scanned: "
        f"{', '.join(map(str, SCANNED_PAGES))}), {len(PRODUCTS)} products, {len(pdf) / 1024:.0f} KiB, "
        f"sha256 {hashlib.sha256(pdf).hexdigest()[:16]}"
    )


if __name__ == "__main__":
    main()
