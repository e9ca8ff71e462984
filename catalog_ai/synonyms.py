"""Everyday words for store things, as customers say them and as catalogs write them (data, not code).

Each group holds words that a customer may use for the same thing or fact. When a question's
word is in a group, the lexical index also looks for the group's other words, at
:data:`catalog_ai.lexical.SYNONYM_WEIGHT` of a direct match (see ``LexicalIndex.expand``); only
words that the indexed catalog actually contains are looked for. Words are written naturally
(accents allowed); they are normalized and stemmed with the index's own stemmer, so a plural or
a verb form of a listed word finds the group too ("demoran" -> "demor"), as does a verb whose stem
starts a listed noun's ("montar" -> "montaje", ``LexicalIndex._group_synonyms``).

The list is general Spanish (Latin America first: "llave" and "grifo" are the faucet of Colombia
and Spain) with the English words of a store, so an English question meets a Spanish catalog. It was
written before the evaluation set of bench/catalog_eval existed, from everyday store vocabulary; words
added later while looking at the benchmark's failures were taken out again, so that its figures do
not reward words written for its questions (two ambiguous words, "fabricación" and "producción", were
dropped from the time group for precision). Keep it to single words about things a home, hardware or
kitchen store sells and the facts customers ask (money, delivery, time, service, size). Extend it from
general sources, not from one catalog's questions. No brand names: a brand is the catalog's own word.
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
    ("instalación", "instalar", "montaje", "instalador", "installation", "install", "fitting"),
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
)
