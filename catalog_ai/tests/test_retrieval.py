"""Retrieval: the lexical side (pure), the fusion, and hybrid search quality and threshold on a real catalog."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from bench.embedders_quality import CHUNKS, OFF_TOPIC, QUESTIONS
from catalog_ai.embedders import LocalEmbedder, OpenAIEmbedder, reset_embedder_cache
from catalog_ai.lexical import (
    FUZZY_WEIGHT,
    STOPWORDS,
    SYNONYM_WEIGHT,
    LexicalIndex,
    document_tokens,
    query_tokens,
)
from catalog_ai.retrieval import (
    BACKGROUND_TEXTS,
    DEFAULT_MIN_SCORES,
    LEXICAL_ONLY,
    Hit,
    default_min_score,
    dense_relevance,
    fuse,
    rank_order,
    search,
    search_explained,
)
from catalog_ai.vector_store import ChunkMeta, load_current, write_store
from whatsapp_ia.fakes.openai import FakeOpenAI

THRESHOLD = 0.25  # AISettings.min_score's default
SKU = re.compile(r"REF ([A-Z]{2}-[A-Z0-9]{2,3}-[A-Z0-9]{2,4})")


def metas() -> list[ChunkMeta]:
    out = []
    for i, text in enumerate(CHUNKS):
        skus = tuple(SKU.findall(text))
        out.append(
            ChunkMeta(
                id=1000 + i,
                catalog_id=7,
                catalog="Catálogo Cocinas 2025",
                page=i // 5 + 1,
                position=i % 5,
                skus=skus,
                image=f"catalogs/pages/abc/page_{i // 5 + 1:04d}.jpg",
                text=text,
            )
        )
    return out


@pytest.fixture(scope="module")
def local_vectors() -> tuple[Any, np.ndarray, np.ndarray]:
    embedder = LocalEmbedder()
    return embedder, embedder.embed(CHUNKS), embedder.embed(BACKGROUND_TEXTS)


@pytest.fixture
def offline(settings: Any, tmp_path: Any) -> Iterator[Any]:
    settings.OPENAI_API_KEY = ""
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    reset_embedder_cache()
    yield settings
    reset_embedder_cache()


@pytest.fixture
def local_store(offline: Any, local_vectors: tuple[Any, np.ndarray, np.ndarray]) -> Any:
    embedder, vectors, background = local_vectors
    write_store(vectors, metas(), embedder=embedder.name, dim=embedder.dim, background=background)
    return load_current()


# --- lexical (pure) --------------------------------------------------------------------------------


def test_lexical_tokens_ignore_accents_case_and_plurals() -> None:
    assert query_tokens("¿Cuánto vale el MESÓN?").base == ("meson",)
    assert query_tokens("mesones de GRANITO").base == ("meson", "granit")
    assert query_tokens("lavaplatos inoxidables").base == query_tokens("Lavaplato inoxidable").base
    assert query_tokens("¿cuál es la capital de Francia?").base == ("capital", "franci")
    # Snowball stemming: a verb and its noun meet ("instalar" / "instalación"), in English too.
    assert query_tokens("instalar").base == query_tokens("la instalación").base == ("instal",)
    assert query_tokens("sinks", "en").base == query_tokens("sink", "en").base == ("sink",)
    assert "de" in STOPWORDS and "dos" not in STOPWORDS and "sin" not in STOPWORDS


def test_an_unknown_word_meets_the_catalog_words_built_on_it() -> None:
    from catalog_ai.lexical import PREFIX_WEIGHT, LexicalIndex

    index = LexicalIndex.build(["Parqueadero gratis para clientes.", "Tapón de caucho para desagüe."])
    expanded = index.query_tokens("¿tienen donde parquear?")
    assert expanded.base == ("parqu",)
    assert ("parqueader", PREFIX_WEIGHT) in expanded.alternatives(0)
    assert index.search("donde parquear el carro")[0][0] == 0
    # A known word is left alone, and a short one does not reach longer words ("tap" is not "tapon").
    assert index.query_tokens("clientes").alternatives(0) == ()
    assert all(w != "tapon" for w, _ in index.query_tokens("tapa").alternatives(0))


def test_sku_tokens_meet_whatever_the_separators() -> None:
    base, extra = document_tokens("Mesón negro REF GR-NEG-200 $1.250.000")
    assert {"gr", "neg", "200"} <= set(base) and {"grneg200", "grneg", "neg200", "1250000"} <= set(extra)
    for typed in ("GR NEG 200", "gr-neg-200", "GRNEG200", "ref GR.NEG.200", "gr_neg_200", "Gr Neg-200"):
        tokens = query_tokens(typed)
        assert "grneg200" in tokens.base + tokens.bonus, typed


def test_lexical_index_ranks_exact_skus_and_names_first() -> None:
    index = LexicalIndex.build(CHUNKS)
    for typed, expected in (
        ("GR NEG 200", 0),
        ("gr-neg-160", 1),
        ("GRNEG160", 1),
        ("lv grs 7850", 13),
        ("CZBPL300", 5),
        ("CUARZO BLANCO POLAR", 5),
        ("griferia monocontrol extraible", 16),
        ("lavaplatos inoxidables doble poza", 12),
    ):
        hits = index.search(typed, k=3)
        assert hits and hits[0][0] == expected, (typed, hits)
        assert index.relevance(typed, hits[0][1]) > 0.6, typed
    assert index.search("¿cuál es la capital de Francia?") == []
    assert index.search("de la el") == []  # only stop words
    assert index.relevance("capital de francia", 0.0) == 0.0


def test_lexical_relevance_is_low_for_a_bare_common_number() -> None:
    index = LexicalIndex.build(CHUNKS)
    assert index.confidence("2") < 0.3 < 0.9 < index.confidence("granito negro")
    scores = index.scores("cuánto es 2 + 2")
    assert index.relevance_vector("cuánto es 2 + 2", scores).max() < 0.3


def test_an_empty_lexical_index() -> None:
    index = LexicalIndex.build([])
    assert len(index) == 0 and index.search("mesón") == [] and index.confidence("mesón") == 0.0


# --- fusion (pure) ---------------------------------------------------------------------------------


def test_fusion_is_a_probabilistic_or_in_0_1() -> None:
    lexical = np.array([0.0, 1.0, 0.5, 0.0])
    dense = np.array([0.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(fuse(lexical, dense), [0.0, 1.0, 0.75, 1.0])
    np.testing.assert_allclose(fuse(lexical, None), lexical)
    rel = dense_relevance(np.array([0.80, 0.83, 0.87, 0.95, np.nan]), reference=0.80, relevance_range=(0.01, 0.09))
    np.testing.assert_allclose(rel, [0.0, 0.25, 0.75, 1.0, 0.0])
    raw = dense_relevance(np.array([0.95, 0.90]), 0.80, (0.01, 0.09), clip=False)
    assert raw[0] > raw[1] > 1.0
    # Two chunks at 1.0: the stronger unclipped signal wins the tie.
    order = rank_order(np.array([1.0, 1.0, 0.2]), np.array([0.5, 0.5, 0.0]), np.array([1.2, 1.9, 0.2]))
    assert list(order) == [1, 0, 2]


# --- hybrid search with the local embedder ---------------------------------------------------------


def test_search_returns_hits_with_page_skus_image_and_catalog(local_store: Any) -> None:
    hits = search("¿cuánto vale el mesón de granito negro de 2 metros?", k=3)
    assert 1 <= len(hits) <= 3 and all(isinstance(h, Hit) for h in hits)
    top = hits[0]
    assert top.chunk_id in (1000, 1040)
    assert top.score >= THRESHOLD and 0.0 <= hits[-1].score <= top.score <= 1.0
    assert top.catalog == "Catálogo Cocinas 2025" and top.catalog_id == 7
    first = next(h for h in search("GR-NEG-200", k=5) if h.chunk_id == 1000)
    assert first.page == 1 and first.skus == ("GR-NEG-200",) and first.image == "catalogs/pages/abc/page_0001.jpg"
    assert first.text.startswith("Mesón granito negro San Gabriel 200")
    assert top.dense_rank is not None  # both signals ran
    assert search("", k=3) == [] and search("mesón", k=0) == []


def test_every_exact_sku_ranks_its_chunk_first(local_store: Any) -> None:
    checked = 0
    for i, text in enumerate(CHUNKS):
        for sku in SKU.findall(text):
            for typed in (sku, sku.replace("-", " ").lower(), f"precio ref {sku.replace('-', '')}"):
                hits = search(typed, k=3)
                assert hits[0].chunk_id == 1000 + i, (typed, hits[:2])
                assert hits[0].score >= 0.5 and hits[0].lexical_rank == 1
            checked += 1
    assert checked >= 30


def test_hybrid_quality_on_the_spanish_question_set(local_store: Any) -> None:
    """Measured 0.95 r@1 / 0.97 r@3 (bench/embedders_quality.py); the test keeps a margin."""
    spanish = [(q, rel) for q, rel, lang in QUESTIONS if lang == "es"]
    r1 = r3 = 0
    for question, relevant in spanish:
        ids = [h.chunk_id - 1000 for h in search(question, k=3)]
        r1 += bool(ids and ids[0] in relevant)
        r3 += bool(set(ids) & set(relevant))
    assert r1 / len(spanish) >= 0.85 and r3 / len(spanish) >= 0.9, (r1, r3, len(spanish))


def test_the_threshold_separates_catalog_questions_from_off_topic_ones(local_store: Any) -> None:
    top = search("¿cuál es la capital de Francia?", k=1)
    assert not top or top[0].score < THRESHOLD
    assert search("¿cuál es la capital de Francia?", k=5, min_score=THRESHOLD) == []
    off_scores = [(search(q, k=1) or [None])[0] for q in OFF_TOPIC]
    below = sum(1 for hit in off_scores if hit is None or hit.score < THRESHOLD)
    assert below >= len(OFF_TOPIC) - 1  # measured: 9 of 10 ("cuánto es 2 + 2" scores 0.33)
    answerable = [search(q, k=1)[0].score for q, _, lang in QUESTIONS if lang == "es"]
    assert sum(s >= THRESHOLD for s in answerable) >= len(answerable) - 3  # measured: 38 of 40
    for question in ("Cuarzo blanco polar", "cubierta de induccion", "qué garantía tiene el cuarzo?"):
        hits = search(question, k=5, min_score=THRESHOLD)
        assert hits and all(h.score >= THRESHOLD for h in hits)


def test_a_store_from_another_embedder_is_searched_lexically_with_a_warning(
    offline: Any, local_vectors: tuple[Any, np.ndarray, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    _, vectors, _ = local_vectors
    write_store(vectors, metas(), embedder="openai:text-embedding-3-small", dim=384)  # indexed with a key, now none
    with caplog.at_level(logging.WARNING, logger="catalog_ai.retrieval"):
        hits = search("gr neg 160", k=3)
        search("mesón", k=3)
    assert hits[0].chunk_id == 1001 and all(h.dense_rank is None for h in hits)
    warnings = [r for r in caplog.records if "Rebuild the index" in r.getMessage()]
    assert len(warnings) == 1  # once per store version and embedder
    assert search("¿cuál es la capital de Francia?", k=3) == []


def test_an_empty_or_missing_store_finds_nothing(offline: Any) -> None:
    assert search("mesón granito", k=3) == []  # no store yet
    write_store(np.zeros((0, 384), dtype=np.float32), [], embedder=LocalEmbedder.name, dim=384)
    assert load_current() is not None and search("mesón granito", k=3) == []


def test_search_through_openai_embeddings_on_the_fake_server(settings: Any, tmp_path: Any) -> None:
    with FakeOpenAI() as server:
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_MAX_RETRIES = 0
        settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
        reset_embedder_cache()
        try:
            embedder = OpenAIEmbedder("text-embedding-3-small", "sk-test", server.base_url, max_retries=0)
            write_store(
                embedder.embed(CHUNKS),
                metas(),
                embedder=embedder.name,
                dim=embedder.dim,
                background=embedder.embed(BACKGROUND_TEXTS),
            )
            server.clear()
            hits = search("lavaplatos acero inoxidable doble poza", k=3)
            assert hits[0].chunk_id == 1012 and hits[0].dense_rank is not None and hits[0].lexical_rank is not None
            calls = server.requests_to("/v1/embeddings")
            assert len(calls) == 1 and calls[0].body["input"] == ["lavaplatos acero inoxidable doble poza"]

            # The online threshold: text-embedding-3-small's own calibrated default, whatever server serves it.
            found = search_explained("lavaplatos acero inoxidable doble poza", k=3)
            assert found.embedder.startswith("openai:text-embedding-3-small@")
            assert (
                found.threshold
                == default_min_score(found.embedder)
                == DEFAULT_MIN_SCORES["openai:text-embedding-3-small"]
            )
            top = found.hits[0]
            assert 0 < top.lexical <= 1 and top.dense is not None and 0 <= top.dense <= 1
            assert top.score >= found.threshold
            off = search_explained("¿cuál es la capital de Francia?", k=3)
            assert not off.hits or off.hits[0].score < off.threshold
        finally:
            reset_embedder_cache()


def test_hits_carry_their_lexical_and_dense_relevance(local_store: Any) -> None:
    found = search_explained("griferia monocontrol extraible", k=3)
    assert found.embedder == LocalEmbedder.name and found.threshold == DEFAULT_MIN_SCORES[LocalEmbedder.name]
    for hit in found.hits:
        assert 0 <= hit.lexical <= 1 and hit.dense is not None and 0 <= hit.dense <= 1
        assert hit.score == pytest.approx(1 - (1 - hit.lexical) * (1 - hit.dense), abs=2e-4)


def test_a_search_without_its_embedder_is_lexical_with_the_lexical_threshold(offline: Any) -> None:
    write_store(np.zeros((len(CHUNKS), 8), dtype=np.float32), metas(), embedder="local:another-model", dim=8)
    found = search_explained("griferia monocontrol extraible", k=3)
    assert found.embedder == LEXICAL_ONLY and found.threshold == DEFAULT_MIN_SCORES[LEXICAL_ONLY]
    assert found.hits[0].chunk_id == 1016 and found.hits[0].dense is None


# --- issue 14: words a customer uses that the catalog writes otherwise ------------------------------

POLICY_DOCS = [
    "Servicio de instalación\nLa instalación de un mesón cuesta $120.000 por metro lineal y se hace en 5 días hábiles "
    "después de la medición.",
    "Grifería para cocina monocontrol cromada. REF GC-01. Precio $289.900.",
    "Lavaplatos de acero inoxidable de dos pozas. REF LV-02. Precio $359.900.",
    "Garantía: los mesones tienen 10 años de garantía contra defectos de fabricación.",
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("¿cuánto cobran por instalar?", 0),  # "instalar" / "instalación": one Snowball stem
        ("¿cuánto demoran?", 0),  # "demoran" / "días hábiles": the curated store vocabulary
        ("necesito una llave para la cocina", 1),  # "llave" / "grifería"
        ("grifria monocontrol", 1),  # a typo, matched against the catalog's own words
        ("kitchen faucet", 1),  # English words of a store meet the Spanish catalog
    ],
)
def test_the_lexical_index_meets_the_customers_words(question: str, expected: int) -> None:
    index = LexicalIndex.build(POLICY_DOCS)
    hits = index.search(question, k=2)
    assert hits and hits[0][0] == expected, (question, hits)


def test_numbers_written_in_words_are_searched_as_figures() -> None:
    """Issue 14: "cuanto vale un tinaco de mil litros" did not meet "Tanque de agua 1.000 litros · TQ-1000"."""
    from catalog_ai.lexical import numbers_as_figures

    assert numbers_as_figures("cuanto vale un tinaco de mil litros") == "cuanto vale un tinaco de 1000 litros"
    assert numbers_as_figures("tanque de dos mil litros") == "tanque de 2000 litros"
    assert numbers_as_figures("45 por 45, o cuarenta y cinco por cuarenta y cinco") == "45 por 45, o 45 por 45"
    assert numbers_as_figures("two hundred watts") == "200 watts"  # an English question to a Spanish catalog
    assert numbers_as_figures("lavaplatos de una poza") == "lavaplatos de una poza"  # "una" is also "a"
    assert numbers_as_figures("el segundo piso, tubo de media pulgada") == "el segundo piso, tubo de media pulgada"
    assert numbers_as_figures("qqordzzzqq el primero") == "qqordzzzqq el primero"  # our own mark, typed: kept
    assert numbers_as_figures("") == ""
    tanks = [
        "Tanque de agua 500 litros · TQ-500",
        "Tanque de agua 1.000 litros · TQ-1000",
        "Tanque de agua 2.000 litros",
    ]
    index = LexicalIndex.build(tanks)
    assert index.search("tanque de mil litros", k=1)[0][0] == 1


def test_a_verb_finds_the_group_of_its_listed_noun() -> None:
    """Issue 14: "¿cuánto por montar el mueble del baño?" did not meet "Tarifas de instalación": the group lists
    "montaje" (stem "montaj"), and "montar" stems to "mont"."""
    index = LexicalIndex.build(["Tarifas de instalación: mueble de baño $120.000", "Mueble flotante con lavamanos"])
    alternatives = dict(index.query_tokens("montar").alternatives(0))
    assert alternatives.get("instal") == SYNONYM_WEIGHT, alternatives
    assert index.search("montar el mueble", k=1)[0][0] == 0
    assert not index.query_tokens("mon").alternatives(0)  # too short to stand for a longer word


def test_expansions_count_less_than_the_word_itself() -> None:
    index = LexicalIndex.build(["Grifería para cocina", "Llave de paso para cocina"])
    tokens = index.query_tokens("llave cocina")
    assert dict(tokens.alternatives(0)).get("griferi") == SYNONYM_WEIGHT < 1
    scores = index.scores(tokens)
    assert scores[1] > scores[0] > 0  # the word as written beats its synonym
    misspelt = index.query_tokens("griferria")
    assert misspelt.alternatives(0) and misspelt.alternatives(0)[0][0] == "griferi"
    assert 0 < misspelt.alternatives(0)[0][1] <= FUZZY_WEIGHT
