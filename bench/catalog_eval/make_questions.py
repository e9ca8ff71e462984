"""The question set of bench/catalog_quality.py, checked against the catalog's page data.

    .venv/bin/python bench/catalog_eval/make_questions.py   # writes bench/catalog_eval/questions.json

Questions are written by hand below, the way customers type them on WhatsApp (colloquial words, missing
accents, misspellings, references typed several ways, paraphrased policies, some English). A product
question names its product by key: its page and facts (price "price", reference "ref", or literal text)
come from make_catalog.PRODUCTS, so a price changed in the catalog changes here too. Every question is
checked: each expected fact must be on one of its expected pages (facts.fact_in on
make_catalog.page_text), and, on text pages, in the PDF's own text layer (pypdf); scanned pages must have no
text layer; unanswerable questions have no pages and no facts.

Kinds: price, sku, synonym (product by another name or by what it does), policy, scanned (products and
policies on scanned pages), near_duplicate (the right size, finish or colour), measure (measures and
features), unanswerable (plausible store questions the catalog does not answer, and off-topic ones).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent.parent))

from bench.catalog_eval.facts import alternatives, fact_in, word_overlap  # noqa: E402
from bench.catalog_eval.make_catalog import PAGES, PRODUCTS, page_text  # noqa: E402

QUESTIONS_PATH = HERE / "questions.json"
KINDS = ("price", "sku", "synonym", "policy", "scanned", "near_duplicate", "measure", "unanswerable")
LANGS = ("es", "en")


@dataclass(frozen=True)
class Q:
    kind: str
    text: str
    key: str = ""  # a product of make_catalog.PRODUCTS
    facts: tuple[str, ...] = ("price",)
    pages: tuple[int, ...] = ()
    lang: str = "es"


def en(kind: str, text: str, key: str = "", facts: tuple[str, ...] = ("price",), pages: tuple[int, ...] = ()) -> Q:
    return Q(kind, text, key, facts, pages, "en")


def policy(text: str, pages: tuple[int, ...], *facts: str, lang: str = "es", kind: str = "policy") -> Q:
    return Q(kind, text, "", tuple(facts), pages, lang)


def none(text: str, lang: str = "es") -> Q:
    return Q("unanswerable", text, "", (), (), lang)


QUESTIONS: list[Q] = [
    # ---------------------------------------------------------------- price
    Q("price", "¿Cuánto cuesta la grifería monocontrol de cuello alto para cocina?", "gk_mon"),
    Q("price", "precio del taladro percutor", "he_tp"),
    Q("price", "cuanto vale el rotomartillo", "he_rm"),
    Q("price", "¿Qué valor tiene la pulidora angular?", "he_pa"),
    Q("price", "a como tienen la sierra caladora", "he_sc"),
    Q("price", "precio del atornillador inalambrico", "he_at"),
    Q("price", "¿Cuánto cuesta la ducha eléctrica?", "du_elec"),
    Q("price", "valor del combo de ducha monocontrol empotrado", "du_combo"),
    Q("price", "cuanto cuesta el sanitario milano suspendido", "sa_mil"),
    Q("price", "Buenas tardes, qué precio tiene el sanitario infantil?", "sa_kids"),
    Q("price", "¿Cuánto vale el asiento de cierre lento?", "sa_tapa"),
    Q("price", "precio lavamanos de pedestal clasico", "lm_ped"),
    Q("price", "cuánto cuesta el espejo con luz led", "es_led"),
    Q("price", "¿cuánto vale el galón de esmalte sintético?", "pt_es"),
    Q("price", "precio del impermeabilizante acrilico", "pt_im"),
    Q("price", "cuanto vale la pintura antihumedad", "pt_ah"),
    Q("price", "¿Cuánto cuesta la jabonera de vidrio?", "ac_jab"),
    Q("price", "precio del toallero de barra", "ac_toa"),
    Q("price", "cuanto vale el tubo extensible para la cortina del baño", "ac_cort"),
    Q("price", "precio de la trampa de grasa", "tg_25"),
    Q("price", "¿cuánto cuesta el lavaplatos de granito sintetico?", "lp_gr"),
    Q("price", "Que precio tiene la canastilla de desague del lavaplatos", "lp_can"),
    Q("price", "cuánto vale la extensión eléctrica de 5 metros", "el_ext"),
    Q("price", "precio de la toma GFCI", "el_gfci"),
    Q("price", "¿Cuánto cuesta la cinta aislante?", "el_cinta"),
    Q("price", "precio de la soldadura liquida para pvc", "pvc_sold"),
    Q("price", "cuanto vale una tee de pvc de presion", "pvc_tee"),
    Q("price", "precio del rollo de tuberia pex al pex", "px_100"),
    Q("price", "¿A cómo está la soldadura de CPVC?", "cp_sold"),
    Q("price", "precio de la griferia temporizada antivandalica", "gl_temp"),
    Q("price", "cuánto vale el mezclador centerset", "gl_cent"),
    Q("price", "Hola! me regalas el precio de la ducha telefono con soporte", "du_tel"),
    en("price", "How much is the hammer drill?", "he_tp"),
    en("price", "What's the price of the electric shower?", "du_elec"),
    en("price", "How much does the acrylic waterproofing for roofs cost?", "pt_im"),
    en("price", "Price of the grease trap?", "tg_25"),
    en("price", "How much is the mirror with LED light?", "es_led"),
    en("price", "What does the Milano wall-hung toilet cost?", "sa_mil"),
    en("price", "how much for the angle grinder", "he_pa"),
    en("price", "price of the GFCI outlet", "el_gfci"),
    Q("price", "cuanto bale el codo de pvc de 1/2", "pvc_codo"),
    Q("price", "taladro percutor de media pulgada cuanto bale", "he_tp"),
    # ---------------------------------------------------------------- sku
    Q("sku", "GC-MON-01 precio", "gk_mon"),
    Q("sku", "cuanto vale la ref gcmon01", "gk_mon"),
    Q("sku", "¿Qué es la referencia HL 3102?", "gl_ng", ("Negro mate",)),
    Q("sku", "precio de la referencia hl-3120", "gl_temp"),
    Q("sku", "SA-LYON-1P cuánto cuesta", "sa_lyon"),
    Q("sku", "qué precio tiene la sa ibz 2ph", "sa_ibzh"),
    Q("sku", "Ref DU230", "du_llu30"),
    Q("sku", "código 7702103 cuánto vale", "pvc_1"),
    Q("sku", "el 7702401 que es", "pvc_sold", ("Soldadura líquida PVC",)),
    Q("sku", "LP-10050 precio", "lp_2"),
    Q("sku", "lp 5040", "lp_1"),
    Q("sku", "mb-flo-80 cuanto", "mb_80"),
    Q("sku", "PT-V1-CU", "pt_v1cu"),
    Q("sku", "Ref. AC 110 valor", "ac_barra"),
    Q("sku", "EL-LED12C precio", "el_led12c"),
    Q("sku", "cuanto vale el ab-060", "ab_60"),
    Q("sku", "cuánto cuesta la cp-075", "cp_34"),
    Q("sku", "me cotizas la HE-RM800 por favor", "he_rm"),
    Q("sku", "es-led-6080 medidas", "es_led", ("60 x 80 cm",)),
    Q("sku", "sku lm-sob-40 precio", "lm_sob"),
    en("sku", "How much is GC-EXT-03?", "gk_ext_cr"),
    en("sku", "price of item SA-KID-01", "sa_kids"),
    en("sku", "What is reference HL-3130?", "gl_cent", ("centerset",)),
    en("sku", "ref mb flo 60 price", "mb_60"),
    # ---------------------------------------------------------------- synonym: another name, or what it does
    Q("synonym", "precio de la llave de cocina que se abre sola cuando uno pone las manos", "gk_sen"),
    Q("synonym", "tienen llave de pared para el lavaplatos con dos manijas? cuanto", "gk_par"),
    Q("synonym", "cuanto cuesta la llave alta para el lavaplatos, la de cuello alto", "gk_mon"),
    Q("synonym", "una llave para el lavamanos de la oficina que se cierre sola, cuánto vale?", "gl_temp"),
    Q("synonym", "cuanto vale un inodoro de una sola pieza", "sa_lyon"),
    Q("synonym", "taza de baño para niños pequeños, precio?", "sa_kids"),
    Q("synonym", "la tapa del inodoro que baja despacito cuanto cuesta", "sa_tapa"),
    Q("synonym", "¿qué boiler me sirve para una sola ducha?", "", ("10 litros",), (25, 7)),
    Q("synonym", "calentador de agua eléctrico de tanque, cuánto vale?", "ca_e50"),
    Q("synonym", "fregadero de acero con dos huecos y escurridor", "lp_2"),
    Q("synonym", "coladera para el desague del fregadero", "lp_can"),
    Q("synonym", "sopapa para destapar el baño", "hm_chupa"),
    Q("synonym", "tienen sonda tipo culebra para destapar la tubería?", "hm_ds"),
    Q("synonym", "tijera para cortar tubo de pvc", "hm_ct"),
    Q("synonym", "pegante para pegar tubos de pvc, cuanto?", "pvc_sold"),
    Q("synonym", "pega amarilla para tubo de agua caliente", "cp_sold"),
    Q("synonym", "¿Tienen pegacor? ¿a cómo el bulto?", "pi_peg"),
    Q("synonym", "necesito algo para rellenar las juntas entre baldosas", "pi_boq"),
    Q("synonym", "porta papel higienico de acero", "ac_ppl"),
    Q("synonym", "una agarradera para que mi abuela no se caiga en la ducha", "ac_barra"),
    Q("synonym", "sifon para el piso de la ducha que no deje salir el mal olor", "ac_rej"),
    Q("synonym", "chapa para la puerta del baño con seguro", "ce_bano"),
    Q("synonym", "chapa que se abre con el dedo", "ce_dig"),
    Q("synonym", "cuanto vale un tinaco de mil litros", "tq_1000"),
    Q("synonym", "motobomba para subir el agua al tanque de arriba", "bo_per"),
    Q("synonym", "algo para que el agua salga con más fuerza en toda la casa", "bo_hid"),
    Q("synonym", "tengo goteras en la terraza, qué me sirve?", "pt_im"),
    Q("synonym", "pintura para paredes con salitre y hongos", "pt_ah"),
    Q("synonym", "tomacorriente que se desconecta solo si hay una fuga, para poner junto al lavamanos", "el_gfci"),
    Q("synonym", "foco de luz amarilla de 12 vatios", "el_led12c"),
    Q("synonym", "mueble colgado en la pared con lavamanos de 80, dos cajones", "mb_80"),
    Q("synonym", "espejo que se ilumina y no se empaña", "es_led"),
    Q("synonym", "baldosa que parece de madera, a como el metro", "pi_mad"),
    en("synonym", "kitchen tap that turns on by itself when you put your hands under it", "gk_sen"),
    en("synonym", "toilet for small children, how much?", "sa_kids"),
    en("synonym", "grab bar so my grandmother doesn't fall in the shower", "ac_barra"),
    en("synonym", "something to stop roof leaks on my terrace", "pt_im"),
    en("synonym", "sink strainer for the kitchen sink drain", "lp_can"),
    Q("synonym", "cuanto cuesta el imperbeabilisante para el techo", "pt_im"),
    Q("synonym", "tienen desatascador de cañerías?", "hm_ds"),
    Q("synonym", "hidroneumatico para la presion del agua cuanto vale", "bo_hid"),
    # ---------------------------------------------------------------- policy (paraphrased)
    policy("¿Cuánto me cobran por llevarme el pedido a la casa en Bogotá?", (19,), "$15.000"),
    policy("en cuantos dias me llega un pedido a Medellin?", (19,), "3 a 5 días hábiles"),
    policy("¿cuánto se demora el envío a Cali?", (19,), "3 a 5 días hábiles"),
    policy("cuánto vale mandar una caja a Barranquilla", (19,), "$35.000"),
    policy("¿A partir de cuánto el domicilio es gratis?", (19,), "$300.000"),
    policy("vivo en Chía, cuánto demoran en traerme las cosas?", (19,), "1 a 2 días hábiles"),
    policy("mandan a Pasto? cuanto tarda en llegar", (19,), "5 a 8 días hábiles"),
    policy("si me mandan un tanque de agua a Pereira me cobran más?", (19,), "$25.000"),
    policy("si pido hoy a las 10 de la mañana, despachan hoy mismo?", (19,), "12:00 m."),
    policy("cómo hago para saber dónde va mi pedido", (19,), "número de guía"),
    policy("¿Cuánto cobran por instalar un inodoro?", (20,), "$90.000"),
    policy("cuanto vale que me pongan la llave de la cocina", (20,), "$60.000"),
    policy("me instalan el calentador de gas? a como", (20,), "$180.000"),
    policy("cuánto se demoran en venir a instalar después de que me llega", (20,), "3 días hábiles"),
    policy("instalan la ducha electrica? cuanto cobran", (20,), "$70.000"),
    policy("cuánto cuesta que vengan a mirar para cotizar el enchape del baño", (20,), "$40.000"),
    policy("si el plomero de ustedes instala mal, tiene garantía ese trabajo?", (20,), "6 meses"),
    policy("cuanto por montar el mueble del baño con el lavamanos", (20,), "$120.000"),
    policy("cuántos años de garantía tiene una grifería", (21,), "5 años"),
    policy("y el calentador, cuánto tiempo lo cubren si se daña?", (21,), "2 años"),
    policy("si se raja la porcelana del sanitario me responden?", (21,), "10 años"),
    policy("cuánto se demoran en revisar un producto que llevé por garantía", (21,), "8 días hábiles"),
    policy("la garantía cubre si lo instaló otro plomero y quedó mal?", (21,), "mala instalación"),
    policy("puedo devolver algo que compré hace dos semanas?", (22,), "30 días"),
    policy("en cuánto tiempo me devuelven la plata si devuelvo algo", (22,), "10 días hábiles"),
    policy("me llegó el lavamanos partido, qué hago?", (22,), "48 horas"),
    policy("puedo devolver una pintura que pedí preparada de un color especial?", (22,), "color a la medida"),
    policy("¿A qué hora abren los sábados?", (24,), "8:00 a. m."),
    policy("dónde queda la tienda del norte", (24,), "Calle 145"),
    policy("¿atienden los domingos?", (24,), "9:00 a. m. a 2:00 p. m."),
    policy("número de whatsapp para hacer un pedido", (24,), "310 555 0142"),
    policy("tienen donde parquear el carro?", (24,), "Parqueadero gratis"),
    policy("tienen tienda en chia? direccion", (24,), "Chía-Cajicá"),
    policy("a qué hora cierran entre semana", (24,), "6:00 p. m."),
    policy("¿cuántos galones necesito para pintar una pieza de 3 por 3?", (25,), "dos galones"),
    policy("con qué limpio la llave del lavamanos para no dañarla", (25,), "jabón neutro"),
    policy("qué tubo uso para el agua caliente del calentador", (25, 9), "CPVC"),
    policy("el baño se queda goteando todo el tiempo, qué repuesto necesito?", (25,), "SA-SAPO"),
    policy("How much is delivery in Bogotá?", (19,), "$15.000", lang="en"),
    policy("How long does shipping to Medellín take?", (19,), "3 a 5 días hábiles || 3 to 5 business days", lang="en"),
    policy("What's the minimum purchase for free shipping?", (19,), "$300.000", lang="en"),
    policy("Do you install toilets? How much?", (20,), "$90.000", lang="en"),
    policy("How much does it cost to install a gas water heater?", (20,), "$180.000", lang="en"),
    policy("How many days do I have to return a product?", (22,), "30 días || 30 days", lang="en"),
    policy("What are your opening hours on Saturday?", (24,), "8:00 a. m. || 8 am || 8:00 am", lang="en"),
    policy("What's your WhatsApp number?", (24,), "310 555 0142", lang="en"),
    policy("How long is the warranty on faucets?", (21,), "5 años || 5 years || five years", lang="en"),
    # ---------------------------------------------------------------- scanned pages
    Q("scanned", "precio del calentador de paso de 12 litros", "ca_g12"),
    Q("scanned", "calentador a gas de 16 litros cuanto vale", "ca_g16"),
    Q("scanned", "¿Cuánto cuesta el calentador eléctrico de 50 litros?", "ca_e50"),
    Q("scanned", "CAL-G10 precio", "ca_g10"),
    Q("scanned", "el calentador de 10 litros es de tiro forzado?", "ca_g10", ("tiro forzado",)),
    Q("scanned", "llave de tubo de 14 pulgadas, precio", "hm_lt14"),
    Q("scanned", "HM-LT18", "hm_lt18"),
    Q("scanned", "precio de la cinta teflon", "hm_tf"),
    Q("scanned", "cuánto cuesta el cortatubos", "hm_ct"),
    Q("scanned", "precio de la cerradura digital", "ce_dig"),
    Q("scanned", "cuántas huellas guarda la cerradura digital?", "ce_dig", ("100 huellas",)),
    Q("scanned", "candado de 50 mm cuánto", "ce_can"),
    Q("scanned", "CE-POM-02", "ce_alc"),
    Q("scanned", "tanque de agua de 500 litros precio", "tq_500"),
    Q("scanned", "TQ-2000 valor", "tq_2000"),
    Q("scanned", "cuánto vale el hidroflo", "bo_hid"),
    Q("scanned", "porcelanato carrara precio por metro", "pi_car"),
    Q("scanned", "ceramica arena 45x45 a como el metro", "pi_cer"),
    Q("scanned", "PI-PEG25 precio", "pi_peg"),
    Q("scanned", "cuánto rinde un bulto de pegante cerámico", "pi_peg", ("4 m²",)),
    Q("scanned", "cuántos metros trae la caja de la cerámica arena", "pi_cer", ("2,03 m²",)),
    policy("¿reciben pagos por Nequi?", (23,), "Nequi", kind="scanned"),
    policy("puedo pagar a cuotas con la tarjeta de crédito?", (23,), "36 cuotas", kind="scanned"),
    policy("¿se puede pagar cuando me llegue el pedido?", (23,), "contra entrega", kind="scanned"),
    policy("los precios ya tienen el iva?", (23, 1), "IVA", kind="scanned"),
    policy("dan crédito a maestros de obra?", (23,), "30 días", kind="scanned"),
    en("scanned", "How much is the 16 liter gas water heater?", "ca_g16"),
    en("scanned", "price of the digital lock with fingerprint", "ce_dig"),
    en("scanned", "How much is the 1000 liter water tank?", "tq_1000"),
    policy("Can I pay with Nequi?", (23,), "Nequi", lang="en", kind="scanned"),
    Q("scanned", "calentador de pazo a gaz de 12 litros", "ca_g12"),
    Q("scanned", "cerradura dijital con uella cuanto cuesta", "ce_dig"),
    Q("scanned", "porselanato carrara 60x60", "pi_car"),
    # ---------------------------------------------------------------- near duplicates
    Q("near_duplicate", "monocontrol de lavamanos negro mate precio", "gl_ng"),
    Q("near_duplicate", "monocontrol lavamanos dorado", "gl_do"),
    Q("near_duplicate", "griferia de lavamanos baja cromada cuanto vale", "gl_cr"),
    Q("near_duplicate", "monocontrol alto para lavamanos de sobreponer", "gl_alto"),
    Q("near_duplicate", "la griferia extraible cromada cuanto vale", "gk_ext_cr"),
    Q("near_duplicate", "y la extraíble en negro mate?", "gk_ext_ng"),
    Q("near_duplicate", "regadera lluvia de 30x30", "du_llu30"),
    Q("near_duplicate", "regadera de 20 x 20 precio", "du_llu20"),
    Q("near_duplicate", "sanitario ibiza color hueso", "sa_ibzh"),
    Q("near_duplicate", "sanitario ibiza blanco dos piezas precio", "sa_ibz"),
    Q("near_duplicate", "mueble flotante de 60", "mb_60"),
    Q("near_duplicate", "mueble flotante de 80 cm con dos cajones", "mb_80"),
    Q("near_duplicate", "tubo pvc de 3/4 precio", "pvc_34"),
    Q("near_duplicate", "tubo pvc presion de 1 pulgada", "pvc_1"),
    Q("near_duplicate", "tubo sanitario de 4 pulgadas", "pvc_s4"),
    Q("near_duplicate", 'tubo sanitario de 2"', "pvc_s2"),
    Q("near_duplicate", "tubo cpvc de media", "cp_12"),
    Q("near_duplicate", "manguera de abasto de 60 cm", "ab_60"),
    Q("near_duplicate", "bombillo led de 9 w", "el_led9"),
    Q("near_duplicate", "bombillo led 12w luz blanca", "el_led12"),
    Q("near_duplicate", "pintura vinilo blanco por cuñete", "pt_v1cu"),
    Q("near_duplicate", "pintura vinilo tipo 1 el galon", "pt_v1gl"),
    Q("near_duplicate", "lavaplatos de una poza en acero inoxidable", "lp_1"),
    Q("near_duplicate", "cerradura de pomo para alcoba", "ce_alc"),
    Q("near_duplicate", "tanque de 2000 litros", "tq_2000"),
    en("near_duplicate", "How much is the black matte basin mixer?", "gl_ng"),
    en("near_duplicate", "Price of the 30 cm rain shower head?", "du_llu30"),
    en("near_duplicate", "3/4 inch PVC pressure pipe price", "pvc_34"),
    en("near_duplicate", "the 80 cm floating vanity, how much?", "mb_80"),
    Q("near_duplicate", "presio manguera de abasto de 40 cm", "ab_40"),
    Q("near_duplicate", "tuvo de pvc sanitario de 4", "pvc_s4"),
    # ---------------------------------------------------------------- measures and features
    Q("measure", "¿qué altura tiene la grifería monocontrol de cocina?", "gk_mon", ("38 cm",)),
    Q("measure", "de cuantos metros es la manguera de la griferia extraible", "gk_ext_ng", ("1,5 m",), (2,)),
    Q("measure", "cuánta agua gasta por descarga el sanitario Lyon", "sa_lyon", ("4,8 L",)),
    Q("measure", "medidas del sanitario ibiza", "sa_ibz", ("70 x 36 x 77 cm",)),
    Q("measure", "cuánto mide el lavamanos de pedestal", "lm_ped", ("56 x 45 cm",)),
    Q("measure", "de que tamaño es el lavaplatos de dos pozas", "lp_2", ("100 x 50 cm",)),
    Q("measure", "medidas del lavaplatos de granito", "lp_gr", ("78 x 48 cm",)),
    Q("measure", "cuántos vatios tiene la ducha eléctrica", "du_elec", ("4.500 W",)),
    Q("measure", "potencia del rotomartillo", "he_rm", ("800 W",)),
    Q("measure", "cuantos metros cuadrados alcanza a pintar un galon de vinilo", "pt_v1gl", ("35 m²",)),
    Q("measure", "cuánto peso aguanta la barra de apoyo", "ac_barra", ("150 kg",)),
    Q("measure", "de qué largo viene el tubo pvc", "pvc_12", ("6 m",)),
    Q("measure", "hasta cuántos grados aguanta el cpvc", "cp_12", ("82 °C",)),
    Q("measure", "el destapador hasta qué profundidad llega", "hm_ds", ("5 m",)),
    Q("measure", "de qué colores viene el impermeabilizante", "pt_im", ("rojo o blanco",)),
    Q("measure", "cuántos colores hay de esmalte", "pt_es", ("14 colores",)),
    Q("measure", "el tubo de la cortina hasta cuánto se estira", "ac_cort", ("200 cm",)),
    Q("measure", "la llave sensa de la cocina funciona con pilas?", "gk_sen", ("4 pilas AA",)),
    Q("measure", "qué calibre es el lavaplatos de una poza", "lp_1", ("calibre 20",)),
    en("measure", "How tall is the high-neck kitchen faucet?", "gk_mon", ("38 cm",)),
    en("measure", "What are the dimensions of the double bowl sink?", "lp_2", ("100 x 50 cm",)),
    en("measure", "How many watts is the hammer drill?", "he_tp", ("650 W",)),
    en("measure", "how much weight does the grab bar hold?", "ac_barra", ("150 kg",)),
    # ---------------------------------------------------------------- unanswerable: the catalog does not say
    none("¿Venden tejas de fibrocemento?"),
    none("¿Tienen jacuzzis o tinas de hidromasaje?"),
    none("¿Cuánto cuesta un sanitario de color negro?"),
    none("¿Venden aires acondicionados?"),
    none("¿Tienen estufas de gas de cuatro puestos?"),
    none("precio de una puerta de madera para el baño"),
    none("¿Cuánto cuesta un extintor de 10 libras?"),
    none("¿Tienen pintura en aerosol?"),
    none("¿a cómo tienen el bulto de cemento gris?"),
    none("¿Cuánto cuesta una cabina de ducha en vidrio templado?"),
    none("¿Tienen mangueras de jardín de 20 metros?"),
    none("¿Venden paneles solares?"),
    none("¿Cuál es el precio de la lavadora?"),
    none("¿Alquilan herramientas?"),
    none("¿cuánto vale el rollo de cable eléctrico calibre 12?"),
    none("¿Venden ladrillos?"),
    none("¿Tienen grama sintética para el patio?"),
    none("¿tienen vacantes de trabajo?"),
    none("Do you sell solar panels?", "en"),
    none("Do you have bathtubs?", "en"),
    none("Do you sell air conditioners?", "en"),
    none("Do you sell garden furniture?", "en"),
    none("¿Quién ganó el partido de ayer?"),
    none("¿Cómo está el clima en Bogotá hoy?"),
    none("Cuéntame un chiste"),
    none("¿Cuál es la capital de Francia?"),
    none("receta de arepas de queso"),
    none("¿a cómo está el dólar hoy?"),
    none("What's the best phone to buy this year?", "en"),
    none("Who is the president of the United States?", "en"),
    none("me recomiendas una película para hoy"),
]


def resolve(q: Q) -> tuple[list[int], list[str]]:
    """The question's expected pages and facts ("price"/"ref"/"name" read from its product)."""
    product = PRODUCTS[q.key] if q.key else None
    pages = list(q.pages) or ([product.page] if product else [])
    facts = []
    for fact in q.facts if q.kind != "unanswerable" else ():
        if fact in ("price", "ref", "name"):
            if product is None:
                raise ValueError(f"{q.text!r}: {fact!r} needs a product")
            fact = getattr(product, fact)
        facts.append(fact)
    return pages, facts


def build() -> list[dict]:
    out = []
    counters: Counter[str] = Counter()
    for q in QUESTIONS:
        counters[q.kind] += 1
        pages, facts = resolve(q)
        out.append(
            {
                "id": f"{q.kind}-{counters[q.kind]:03d}",
                "text": q.text,
                "lang": q.lang,
                "kind": q.kind,
                "expected_pages": pages,
                "expected_facts": facts,
                "answerable": q.kind != "unanswerable",
            }
        )
    return out


def check(questions: list[dict]) -> list[str]:
    """Problems in the set: schema, unknown kinds/languages/pages, facts not on their pages, duplicates."""
    problems = []
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    numbers = {pg.number for pg in PAGES}
    keys = {"id", "text", "lang", "kind", "expected_pages", "expected_facts", "answerable"}
    for q in questions:
        qid = q.get("id", "?")
        if set(q) != keys:
            problems.append(f"{qid}: keys {sorted(q)} != {sorted(keys)}")
            continue
        if qid in seen_ids:
            problems.append(f"{qid}: duplicate id")
        seen_ids.add(qid)
        text = q["text"].strip().lower()
        if text in seen_texts:
            problems.append(f"{qid}: duplicate question {q['text']!r}")
        seen_texts.add(text)
        if q["kind"] not in KINDS:
            problems.append(f"{qid}: unknown kind {q['kind']!r}")
        if q["lang"] not in LANGS:
            problems.append(f"{qid}: unknown language {q['lang']!r}")
        if q["answerable"] != (q["kind"] != "unanswerable"):
            problems.append(f"{qid}: answerable flag does not match its kind")
        if not q["answerable"]:
            if q["expected_pages"] or q["expected_facts"]:
                problems.append(f"{qid}: an unanswerable question has no pages and no facts")
            continue
        if not q["expected_pages"] or not q["expected_facts"]:
            problems.append(f"{qid}: an answerable question needs pages and facts")
        for page in q["expected_pages"]:
            if page not in numbers:
                problems.append(f"{qid}: page {page} is not in the catalog")
        texts = [page_text(p) for p in q["expected_pages"] if p in numbers]
        for fact in q["expected_facts"]:
            if not alternatives(fact):
                problems.append(f"{qid}: empty fact")
            elif not any(fact_in(fact, t) for t in texts):
                problems.append(f"{qid}: fact {fact!r} is on none of pages {q['expected_pages']}")
    return problems


def check_pdf(questions: list[dict], pdf: bytes | None = None) -> list[str]:
    """The same facts against the PDF itself: text pages through their text layer (pypdf), and scanned pages
    must have none (only OCR may read them)."""
    import io

    from pypdf import PdfReader

    from bench.catalog_eval.make_catalog import PDF_PATH, SCANNED_PAGES

    reader = PdfReader(io.BytesIO(pdf if pdf is not None else PDF_PATH.read_bytes()))
    texts = {n: reader.pages[n - 1].extract_text() or "" for n in range(1, len(reader.pages) + 1)}
    problems = []
    if len(texts) != len(PAGES):
        problems.append(f"the PDF has {len(texts)} pages, the data {len(PAGES)}")
    for number in SCANNED_PAGES:
        if texts.get(number, "").strip():
            problems.append(f"scanned page {number} has a text layer")
    for q in questions:
        pages = [p for p in q["expected_pages"] if p not in SCANNED_PAGES and p in texts]
        if not pages or len(pages) < len(q["expected_pages"]):
            continue  # a fact on a scanned page is only on the image
        for fact in q["expected_facts"]:
            if not any(fact_in(fact, texts[p]) for p in pages):
                problems.append(f"{q['id']}: fact {fact!r} is not in the text layer of pages {pages}")
    return problems


def summary(questions: list[dict]) -> str:
    kinds = Counter(q["kind"] for q in questions)
    langs = Counter(q["lang"] for q in questions)
    low = [
        q
        for q in questions
        if q["answerable"] and max(word_overlap(q["text"], page_text(p)) for p in q["expected_pages"]) < 0.5
    ]
    answerable = sum(q["answerable"] for q in questions)
    return (
        f"{len(questions)} questions ({', '.join(f'{k} {kinds[k]}' for k in KINDS)}); "
        f"{', '.join(f'{lang} {n}' for lang, n in sorted(langs.items()))}; "
        f"{len(low)}/{answerable} answerable questions share under half their words with their page"
    )


def main() -> None:
    questions = build()
    problems = check(questions) + check_pdf(questions)
    if problems:
        raise SystemExit("\n".join(problems))
    QUESTIONS_PATH.write_text(json.dumps(questions, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{QUESTIONS_PATH.relative_to(HERE.parent.parent)}: {summary(questions)}")


if __name__ == "__main__":
    main()
