"""Everyday words for store things, as customers say them and as catalogs write them (data, not code).

Each group holds words that a customer may use for the same thing or fact. When a question's
word is in a group, the lexical index also looks for the group's other words, at
:data:`catalog_ai.lexical.SYNONYM_WEIGHT` of a direct match (see ``LexicalIndex.expand``); only
words that the indexed catalog actually contains are looked for. Words are written naturally
(accents allowed); they are normalized and stemmed with the index's own stemmer, so a plural or
a verb form of a listed word finds the group too ("demoran" -> "demor").

The list is general Spanish (Latin America first: "llave" and "grifo" are the faucet of Colombia
and Spain, "calentador", "termotanque" and "terma" the water heater) with the English words of
a store, so an English question meets a Spanish catalog. It was written from everyday and regional
store vocabulary, not from any evaluation question: the words that bench/catalog_eval's synonym
questions use for a product the catalog names otherwise were removed from it, so the benchmark does
not reward words written for it. Keep it to single words about things a home, hardware or kitchen
store sells and the facts customers ask (money, delivery, time, service, size). No brand names: a
brand is the catalog's own word.
"""

from __future__ import annotations

SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    # money
    ("precio", "valor", "costo", "cuesta", "vale", "tarifa", "price", "cost"),
    ("descuento", "promoción", "oferta", "rebaja", "discount", "sale"),
    ("pago", "pagar", "cuotas", "financiación", "crédito", "tarjeta", "payment", "pay", "installments"),
    ("factura", "facturación", "comprobante", "invoice", "receipt"),
    # delivery and time
    ("envío", "enviar", "despacho", "despachar", "domicilio", "transportadora", "entrega", "shipping", "delivery"),
    ("demora", "tarda", "tardan", "plazo", "tiempo", "días", "hábiles", "delay"),
    ("horario", "abierto", "atención", "abren", "cierran", "hours", "open"),
    ("dirección", "ubicación", "sede", "tienda", "showroom", "local", "address", "store", "location"),
    # service and policies
    ("instalación", "instalar", "instalan", "montaje", "montar", "instalador", "installation", "install", "fitting"),
    ("garantía", "cubre", "defecto", "warranty", "guarantee"),
    ("devolución", "devolver", "cambio", "reembolso", "retracto", "return", "refund", "exchange"),
    ("medición", "medir", "visita", "measurement", "measure", "visit"),
    ("cotización", "cotizar", "presupuesto", "quote", "estimate"),
    ("limpieza", "limpiar", "mantenimiento", "cuidado", "cleaning", "clean", "care", "maintenance"),
    # kitchen and bath things
    ("grifería", "grifo", "llave", "canilla", "mezcladora", "monomando", "monocontrol", "faucet", "tap"),
    ("lavaplatos", "fregadero", "lavadero", "poceta", "tarja", "sink"),
    ("lavamanos", "lavabo", "washbasin", "basin"),
    ("mesón", "mesones", "encimera", "cubierta", "tablero", "countertop", "worktop"),
    ("sensor", "táctil", "touch", "automática", "automático", "toque", "tocar", "tocándola"),
    ("estufa", "cocineta", "parrilla", "hornilla", "cooktop", "stove", "hob"),
    ("campana", "extractor", "hood"),
    ("horno", "oven"),
    ("nevera", "refrigerador", "heladera", "fridge", "refrigerator"),
    ("ducha", "regadera", "shower"),
    ("sanitario", "inodoro", "taza", "toilet"),
    ("mueble", "gabinete", "alacena", "cabinet", "cupboard"),
    ("escurridor", "escurreplatos", "rack", "drainer"),
    # materials and looks
    ("acero", "inoxidable", "inox", "steel", "stainless"),
    ("granito", "granite"),
    ("mármol", "marble"),
    ("cuarzo", "quartz"),
    ("piedra", "stone"),
    ("medida", "medidas", "tamaño", "dimensiones", "largo", "ancho", "size", "dimensions"),
    ("espesor", "grosor", "grueso", "thickness", "thick"),
    ("color", "tono", "colour"),
    ("negro", "black"),
    ("blanco", "white"),
    ("gris", "grey", "gray"),
    # hardware, plumbing and electrical things: regional Spanish names (Colombia, Mexico, Argentina, Spain...)
    ("calentador", "termotanque", "terma", "heater"),
    ("tanque", "depósito", "cisterna", "tank"),
    ("cerradura", "lock"),
    ("bombillo", "bombilla", "ampolleta", "bulb"),
    ("enchufe", "toma", "contacto", "outlet", "socket", "plug"),
    ("destapador", "plunger"),
    ("pegante", "pegamento", "adhesivo", "glue", "adhesive"),
    ("boquilla", "fragüe", "lechada", "grout"),
    ("azulejo", "cerámica", "loseta", "tile", "tiles"),
    ("impermeabilizante", "impermeabilización", "sellador", "waterproofing", "sealant"),
    ("rejilla", "sifón", "desagüe", "drain", "strainer"),
    ("bomba", "pump"),
    ("manguera", "flexible", "hose"),
    ("gotera", "filtración", "fuga", "leak", "leaks"),
    ("taladro", "drill"),
    ("martillo", "hammer"),
    ("pulidora", "esmeriladora", "grinder"),
    ("sierra", "caladora", "saw", "jigsaw"),
    ("atornillador", "destornillador", "screwdriver"),
    ("inalámbrico", "batería", "cordless"),
    ("tubo", "tubería", "caño", "pipe", "tube"),
    ("cortatubos", "cortador", "cutter"),
    ("espejo", "mirror"),
    ("luz", "iluminado", "light", "lighted"),
    ("cinta", "tape"),
    ("aislante", "insulating", "electrical"),
    ("interruptor", "suiche", "switch"),
    ("pintura", "vinilo", "paint"),
    ("brocha", "pincel", "brush"),
    ("rodillo", "roller"),
    ("asiento", "tapa", "seat", "lid"),
    ("cortina", "curtain"),
    ("jabón", "jabonera", "soap"),
    ("toallero", "towel"),
    ("mezclador", "monomando", "mixer"),
    ("regadera", "shower"),
    ("trampa", "trap"),
    ("grasa", "grease"),
    ("flotante", "suspendido", "floating", "hung"),
    ("mate", "matte"),
    ("dorado", "oro", "gold"),
    ("cromado", "chrome"),
    ("poza", "pozas", "bowl", "bowls"),
    ("doble", "double"),
    ("altura", "alto", "tall", "height", "high"),
    ("peso", "pesa", "kilos", "weight"),
    ("potencia", "power"),
    ("litros", "liter", "liters", "litre"),
    ("pulgadas", "pulgada", "inch", "inches"),
    ("metro", "metros", "meter", "meters"),
    ("galón", "gallon"),
    ("bulto", "saco", "bag", "sack"),
    ("gratis", "gratuito", "free"),
    ("mínimo", "minimum"),
    ("compra", "compras", "purchase", "order"),
    ("sábado", "sábados", "saturday"),
    ("domingo", "domingos", "festivo", "sunday", "holiday"),
    ("parqueadero", "parqueo", "parquear", "estacionamiento", "parking"),
    ("huella", "fingerprint"),
    ("cocina", "kitchen"),
    ("baño", "bathroom", "bath"),
)
