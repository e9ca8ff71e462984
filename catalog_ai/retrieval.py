"""Hybrid catalog search: BM25 (accent/case-insensitive, SKU-aware) fused with dense vectors in FAISS.

``search(query, k=5)`` returns :class:`Hit` s best first, each with a ``score``
in 0..1 that the answering side compares with ``AISettings.min_score``, or,
when the admin left it empty, with the threshold calibrated for the embedder
that ranked them (:data:`DEFAULT_MIN_SCORES`; ``search_explained`` returns it
with the hits): below it, the catalog does not answer the question.

How the score is made, for each chunk:

* **lexical relevance** ``l`` (:meth:`catalog_ai.lexical.LexicalIndex.relevance_vector`):
  the BM25 score over the sum of the query's IDFs (how much of the question
  the chunk covers), times a confidence that is low when the question is only
  short numbers or very common words;
* **dense relevance** ``d`` (:func:`dense_relevance`): the cosine between
  question and chunk *minus the question's background similarity* (the mean
  of its 3 best cosines against :data:`BACKGROUND_TEXTS`, everyday sentences
  that have nothing to do with a catalog), mapped linearly from the
  embedder's ``relevance_range`` to 0..1. Raw cosines of multilingual-e5 are
  squeezed into 0.75-0.93 for everything, related or not; the contrast with
  the background is what separates "about the catalog" from "about Paris";
* **fused** ``1 - (1 - d) * (1 - l)`` (a probabilistic OR): a chunk found by
  either signal scores high, by both higher; an off-topic question, with no
  shared word and no contrast, scores near 0. Ties (several chunks at 1.0)
  are broken by ``l`` plus the unclipped ``d``.

Measured on bench/embedders_quality.py (41 chunks, 50 questions, 10
off-topic) with the local multilingual-e5 (see catalog_ai/embedders.py): r@1
on the Spanish questions 0.97 with this fusion, 0.93 dense only, 0.72 lexical
only, and 0.82 with Reciprocal Rank Fusion (k=60), which also throws away how
relevant the best chunk is and so cannot feed a threshold.
``lexical_rank`` / ``dense_rank`` on each hit tell which signal found it
(1-based; None when that ranking did not have it), and ``lexical`` / ``dense``
its two relevances (``dense`` is None when the search was lexical only).

When the store was built by another embedder than the current one (e.g. an
OPENAI_API_KEY was added after indexing), or the embedder fails, the search is
lexical only and a warning recommends a rebuild.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from catalog_ai.vector_store import Store, load_current

__all__ = [
    "BACKGROUND_TEXTS",
    "DEFAULT_MIN_SCORES",
    "DEFAULT_RELEVANCE_RANGE",
    "LEXICAL_ONLY",
    "Hit",
    "Search",
    "background_reference",
    "default_min_score",
    "dense_relevance",
    "fuse",
    "search",
    "search_explained",
]

logger = logging.getLogger(__name__)

#: Used when an embedder does not declare its own ``relevance_range``.
DEFAULT_RELEVANCE_RANGE = (0.03, 0.25)
#: How many nearest vectors the dense side ranks (the lexical side adds its own candidates).
DENSE_CANDIDATES = 100
LEXICAL_CANDIDATES = 100

#: Everyday sentences unrelated to any store catalog: a question's similarity to them is its baseline.
#: (Written for this purpose; they do not repeat the off-topic questions of the benchmark.)
BACKGROUND_TEXTS: tuple[str, ...] = (
    "El partido de anoche terminó empatado en el último minuto.",
    "Mañana habrá lluvias fuertes en la mayor parte del país.",
    "Mi hijo empieza el colegio la próxima semana.",
    "El banco cambió los horarios de atención al público.",
    "La película ganó tres premios en el festival.",
    "Necesito una cita con el médico general.",
    "El precio del dólar subió otra vez hoy.",
    "Vamos de vacaciones a la playa en diciembre.",
    "La receta lleva harina, huevos y azúcar.",
    "El concierto empieza a las ocho de la noche.",
    "Se me olvidó la contraseña del correo.",
    "El gobierno anunció una reforma tributaria.",
    "Mi celular no carga la batería.",
    "¿Me puedes contar un chiste?",
    "Hola, buenos días, ¿cómo estás?",
    "The train to the airport leaves every twenty minutes.",
    "I need to renew my passport before the trip.",
    "The football season starts next month.",
    "My laptop keeps freezing when I open the browser.",
    "What time does the pharmacy close?",
    "Can you recommend a good book to read?",
    "The stock market fell sharply this morning.",
    "Gracias por la información, que tengas buen día.",
    "¿Cuál es tu color favorito?",
)


#: The embedder name of a search that had no dense side (no index vectors, another embedder, a failure).
LEXICAL_ONLY = "lexical"

#: The relevance threshold used when AISettings.min_score is empty, per embedder (name, or name prefix before
#: "@" for an OpenAI-compatible server elsewhere). Calibrated with bench/catalog_threshold.py on the
#: evaluation catalog of bench/catalog_eval (see bench/README.md, "Catalog AI quality"): the lowest
#: threshold that keeps every off-topic question out while losing the fewest answerable ones. The
#: OpenAI value could not be measured here (no key); see bench/README.md for how it was chosen.
DEFAULT_MIN_SCORES: dict[str, float] = {
    "local:multilingual-e5-small-q4": 0.25,
    "local:all-MiniLM-L6-v2-onnx-int8": 0.30,
    "openai:text-embedding-3-small": 0.35,
    "openai:text-embedding-3-large": 0.35,
    LEXICAL_ONLY: 0.30,
}
#: For an embedder not in the table.
FALLBACK_MIN_SCORE = 0.30


def default_min_score(embedder: str | None) -> float:
    """The calibrated threshold for searches made with ``embedder`` (None or LEXICAL_ONLY: lexical only)."""
    name = (embedder or LEXICAL_ONLY).split("@", 1)[0]
    return DEFAULT_MIN_SCORES.get(name, FALLBACK_MIN_SCORE)


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    score: float
    text: str
    page: int
    skus: tuple[str, ...]
    image: str
    catalog_id: int
    catalog: str
    lexical_rank: int | None
    dense_rank: int | None
    lexical: float = 0.0  # the lexical relevance l (0..1) that went into ``score``
    dense: float | None = None  # the dense relevance d (0..1); None when the search was lexical only


# --------------------------------------------------------------------------- pure scoring


def background_reference(query_vector: np.ndarray, background: np.ndarray, top: int = 3) -> float:
    """The question's baseline similarity: the mean of its ``top`` best cosines against the background rows."""
    if background is None or not len(background):
        return 0.0
    sims = np.asarray(background, dtype=np.float32) @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
    top = min(top, sims.size)
    return float(np.sort(sims)[-top:].mean())


def dense_relevance(
    cosines: np.ndarray,
    reference: float = 0.0,
    relevance_range: Sequence[float] = DEFAULT_RELEVANCE_RANGE,
    *,
    clip: bool = True,
) -> np.ndarray:
    """Cosines as relevance ``(cos - reference - lo) / (hi - lo)``, clipped to 0..1 unless clip=False (NaN -> 0)."""
    lo, hi = float(relevance_range[0]), float(relevance_range[1])
    rel = (np.asarray(cosines, dtype=np.float64) - reference - lo) / max(hi - lo, 1e-9)
    if clip:
        rel = np.clip(rel, 0.0, 1.0)
    return np.nan_to_num(rel, nan=0.0)


def fuse(lexical: np.ndarray, dense: np.ndarray | None) -> np.ndarray:
    """The fused 0..1 score: ``1 - (1 - d) * (1 - l)`` (lexical alone when there is no dense side)."""
    lexical = np.asarray(lexical, dtype=np.float64)
    if dense is None:
        return np.clip(lexical, 0.0, 1.0)
    return np.clip(1.0 - (1.0 - np.asarray(dense, dtype=np.float64)) * (1.0 - lexical), 0.0, 1.0)


def rank_order(fused: np.ndarray, lexical: np.ndarray, dense_unclipped: np.ndarray | None) -> np.ndarray:
    """Indices by fused score; ties (several chunks at 1.0) broken by l + the unclipped d, then by index."""
    tie = np.asarray(lexical, dtype=np.float64) + (dense_unclipped if dense_unclipped is not None else 0.0)
    return np.lexsort((np.arange(len(fused)), -tie, -np.round(fused, 6)))


# --------------------------------------------------------------------------- search

_warned: set[tuple[str, str]] = set()
_background_cache: dict[str, np.ndarray] = {}
_background_lock = threading.Lock()


def _dense_embedder(store: Store):  # -> Embedder | None
    from catalog_ai.embedders import get_embedder

    try:
        embedder = get_embedder()
    except Exception:
        logger.exception("No embedder available: catalog search is lexical only")
        return None
    name = getattr(embedder, "name", "")
    if store.index is None or not store.embedder:
        return None
    if name != store.embedder:
        key = (store.version, name)
        if key not in _warned:
            _warned.add(key)
            logger.warning(
                "Catalog index %s was built with embedder %r but the current one is %r: searching lexically only. "
                "Rebuild the index (catalog_ai.index.index_rebuild) to use dense retrieval again.",
                store.version,
                store.embedder,
                name,
            )
        return None
    return embedder


def _background(store: Store, embedder) -> np.ndarray:
    if len(store.background):
        return store.background
    cached = _background_cache.get(store.embedder)
    if cached is None:
        with _background_lock:
            cached = _background_cache.get(store.embedder)
            if cached is None:
                cached = embedder.embed(BACKGROUND_TEXTS)
                _background_cache[store.embedder] = cached
    return cached


@dataclass(frozen=True)
class Search:
    """A search's hits with what judged them: the embedder of its dense side (LEXICAL_ONLY when there was
    none), that embedder's calibrated threshold (:func:`default_min_score`) and the translations looked for."""

    hits: list[Hit]
    embedder: str = LEXICAL_ONLY
    threshold: float = FALLBACK_MIN_SCORE
    #: The question's words that were also looked for as their translations into the catalog's language.
    translations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def search(query: str, *, k: int = 5, min_score: float | None = None, store: Store | None = None) -> list[Hit]:
    """The k chunks that best answer ``query``, best first (hybrid; see the module docstring).

    ``min_score`` drops hits below it (the caller usually passes AISettings.min_score);
    ``store`` defaults to this process's current version of settings.AI_VECTOR_STORE_PATH.
    """
    return search_explained(query, k=k, min_score=min_score, store=store).hits


def search_explained(query: str, *, k: int = 5, min_score: float | None = None, store: Store | None = None) -> Search:
    """:func:`search`, with the embedder that ranked the hits and its calibrated threshold."""
    from catalog_ai.embedders import embed_query
    from catalog_ai.translation import words_for

    query = (query or "").strip()
    if not query or k <= 0:
        return Search([])
    if store is None:
        try:
            store = load_current()
        except Exception:
            logger.exception("Could not load the catalog vector store")
            return Search([])
    if store is None or not len(store):
        return Search([])
    n = len(store)
    lexical_index = store.lexical
    translations = words_for(query, lexical_index.language)
    tokens = lexical_index.query_tokens(query, translations=translations)
    lex_scores = lexical_index.scores(tokens)
    lex_rel = lexical_index.relevance_vector(tokens, lex_scores)
    lex_hits = np.flatnonzero(lex_scores > 0)
    lex_hits = lex_hits[np.lexsort((lex_hits, -lex_scores[lex_hits]))]
    lexical_rank = {int(doc): pos for pos, doc in enumerate(lex_hits, 1)}

    dense_rel: np.ndarray | None = None
    dense_raw: np.ndarray | None = None
    dense_rank: dict[int, int] = {}
    embedder = _dense_embedder(store)
    if embedder is not None:
        try:
            qv = embed_query(embedder, query)
            hits = store.search_dense(qv, min(n, max(DENSE_CANDIDATES, k * 10)))
            cosines = np.full(n, np.nan)
            for pos, (row, cos) in enumerate(hits, 1):
                cosines[row] = cos
                dense_rank[row] = pos
            missing = lex_hits[: LEXICAL_CANDIDATES * 2][np.isnan(cosines[lex_hits[: LEXICAL_CANDIDATES * 2]])]
            if missing.size:
                cosines[missing] = store.vectors()[missing] @ qv
            reference = background_reference(qv, _background(store, embedder))
            relevance_range = getattr(embedder, "relevance_range", DEFAULT_RELEVANCE_RANGE)
            dense_raw = dense_relevance(cosines, reference, relevance_range, clip=False)
            dense_rel = np.clip(dense_raw, 0.0, 1.0)
        except Exception:
            logger.exception("Dense retrieval failed: this search is lexical only")
            dense_rel, dense_raw, dense_rank = None, None, {}

    used = store.embedder if dense_rel is not None else LEXICAL_ONLY
    explained = Search([], embedder=used, threshold=default_min_score(used), translations=dict(translations))
    candidates = np.array(sorted(set(dense_rank) | {int(d) for d in lex_hits[:LEXICAL_CANDIDATES]}), dtype=np.int64)
    if not candidates.size:
        return explained
    l_c = lex_rel[candidates]
    d_c = dense_rel[candidates] if dense_rel is not None else None
    fused = fuse(l_c, d_c)
    hits_out: list[Hit] = []
    for i in rank_order(fused, l_c, dense_raw[candidates] if dense_raw is not None else None):
        score = float(fused[i])
        if min_score is not None and score < min_score:
            break
        row = int(candidates[i])
        meta = store.chunks[row]
        hits_out.append(
            Hit(
                chunk_id=meta.id,
                score=round(score, 4),
                text=meta.text,
                page=meta.page,
                skus=meta.skus,
                image=meta.image,
                catalog_id=meta.catalog_id,
                catalog=meta.catalog,
                lexical_rank=lexical_rank.get(row),
                dense_rank=dense_rank.get(row),
                lexical=round(float(l_c[i]), 4),
                dense=round(float(d_c[i]), 4) if d_c is not None else None,
            )
        )
        if len(hits_out) >= k:
            break
    return replace(explained, hits=hits_out)
