"""A question's words in the catalog's language: Apertium's real dictionaries (Debian's apertium-eng-spa, which
bin/test installs), the lexical index taking them as alternatives, and the answer an English customer gets."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from catalog_ai import translation
from catalog_ai.lexical import SYNONYM_WEIGHT, TRANSLATION_WEIGHT, LexicalIndex
from catalog_ai.translation import parse_stream, status, translate_words, unavailable_for, words_for

CATALOG = [
    "Espejo con luz LED de 60 cm, antiempañante. Ref. AC-ESP60. Precio: $189.900",
    "Tanque de agua 1.000 litros con tapa y flotador. Ref. TQ-1000. Precio: $559.000",
    "Barra de apoyo de seguridad 60 cm, soporta 150 kg. Ref. AC-110. Precio: $199.900",
]


@pytest.fixture(autouse=True)
def _fresh_lookups(settings: Any) -> Any:
    """Each test starts without cached words, with Debian's dictionaries where they are installed."""
    settings.AI_TRANSLATION_DIR = "/usr/share/apertium"
    translation._cache.clear()
    translation._warned.clear()
    yield settings
    translation._cache.clear()


def test_the_stream_format_is_read_whole_and_unknown_readings_dropped() -> None:
    assert parse_stream("^tanks/tank<n><pl>$ ^./.<sent>$") == [("tanks", ["tank<n><pl>"]), (".", [".<sent>"])]
    assert parse_stream("^waterproofing/*waterproofing$") == [("waterproofing", [])]
    assert parse_stream("^outlet<n><sg>/@outlet<n><sg>$") == [("outlet<n><sg>", [])]
    assert parse_stream(r"^a\/b/a\/b<n>$") == [(r"a\/b", [r"a\/b<n>"])]
    assert parse_stream("") == []


def test_english_words_get_every_spanish_sense_the_dictionary_knows() -> None:
    assert status("en", "es") == ""
    found = translate_words(["Mirror", "tanks", "weight", "waterproofing"], "en", "es")
    assert found["mirror"] == ("espejo",)
    assert set(found["tanks"]) == {"tanque", "depósito"}  # a plural is analysed to its lemma
    assert found["weight"] == ("peso",)
    assert "waterproofing" not in found  # a word the dictionary does not know is left as written
    assert translate_words(["saturday"], "en", "es") == {"saturday": ("sábado",)}  # typed in lower case


def test_only_things_are_translated_not_verbs() -> None:
    """A verb's senses are many and far apart ("turns" -> girar, "hands" -> entregar)."""
    found = translate_words(["hands", "sell"], "en", "es")
    assert found.get("hands") == ("mano",)
    assert "sell" not in found


def test_adverbs_are_translated_too() -> None:
    """Issue 14: "What's the minimum purchase for free shipping?" missed "envío gratis": the dictionary reads
    "free" as an adjective ("libre", "gratuito") and as an adverb ("gratis")."""
    assert "gratis" in translate_words(["free"], "en", "es")["free"]
    assert translate_words(["today"], "en", "es")["today"] == ("hoy",)


def test_a_question_in_the_catalogs_language_is_not_looked_up() -> None:
    assert words_for("¿cuánto cuesta el espejo con luz?", "es") == {}
    assert words_for("How much is the mirror with LED light?", "es")["mirror"] == ("espejo",)
    assert words_for("", "es") == {}


def test_hostile_input_never_reaches_the_dictionary_as_stream_syntax() -> None:
    """Apertium's stream reserves ^$/<>@*#[]\\: only alphabetic words are looked up, each at most once."""
    found = translate_words(["^mirror<n>$", "[tank]", "a/b", "mirror", "x", "", "espejo\\", "12"], "en", "es")
    assert found == {"mirror": ("espejo",)}
    many = [f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(200)]
    assert translate_words([*many, "mirror"], "en", "es") == {}  # capped at MAX_WORDS: "mirror" is the 201st


def test_without_dictionaries_questions_are_searched_as_written(settings: Any, tmp_path: Any) -> None:
    settings.AI_TRANSLATION_DIR = str(tmp_path / "nothing here")
    assert translate_words(["mirror"], "en", "es") == {}
    assert "apertium-eng-spa" in status("en", "es")
    assert "apertium-eng-spa" in unavailable_for("How much is the mirror?", "es")
    assert unavailable_for("¿cuánto vale el espejo?", "es") == ""


def test_an_empty_setting_turns_lookups_off_rather_than_reading_the_current_directory(
    settings: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    (tmp_path / "apertium-eng-spa").symlink_to("/usr/share/apertium/apertium-eng-spa")
    monkeypatch.chdir(tmp_path)
    settings.AI_TRANSLATION_DIR = ""
    assert translate_words(["mirror"], "en", "es") == {}
    assert status("en", "es") != ""


def test_a_dictionary_that_breaks_is_logged_once_and_the_search_goes_on(
    settings: Any, tmp_path: Any, caplog: Any
) -> None:
    folder = tmp_path / "apertium-eng-spa"
    folder.mkdir()
    for name in ("eng-spa.automorf.bin", "eng-spa.autobil.bin"):
        # lttoolbox's header, then garbage (a file cut or overwritten): lt-proc aborts on it at once. Random bytes
        # made this test flaky: lt-proc reads most of them as an empty dictionary and answers (every word unknown,
        # nothing to log), and some it reads for seconds, past the time limit.
        (folder / name).write_bytes(b"LTTB\0\0\0\0" + b"\xff" * 56)
    settings.AI_TRANSLATION_DIR = str(tmp_path)
    with caplog.at_level(logging.WARNING, logger="catalog_ai.translation"):
        assert translate_words(["mirror"], "en", "es") == {}
        assert translate_words(["tank"], "en", "es") == {}
    assert sum("Word lookup en->es failed" in r.getMessage() for r in caplog.records) == 1


def test_a_worker_reuses_its_dictionary_process_and_restarts_it_when_it_dies() -> None:
    assert translate_words(["mirror"], "en", "es")
    running = [c for c in translation._coprocesses.values() if c.proc is not None and c.proc.poll() is None]
    assert running
    for coprocess in running:
        coprocess.proc.kill()
        coprocess.proc.wait()
    translation._cache.clear()
    assert translate_words(["mirror"], "en", "es") == {"mirror": ("espejo",)}  # the next lookup starts it again


def test_the_lexical_index_looks_for_the_translations_the_catalog_contains() -> None:
    index = LexicalIndex.build(CATALOG, language="es")
    plain = index.query_tokens("mirror with light")
    translated = index.query_tokens("mirror with light", translations={"mirror": ("espejo", "cristal")})
    assert not plain.alternatives(0)
    assert dict(translated.alternatives(0)) == {"espej": TRANSLATION_WEIGHT}  # "cristal" is not in the catalog
    assert TRANSLATION_WEIGHT <= SYNONYM_WEIGHT < 1
    scores = index.scores(translated)
    assert scores.argmax() == 0 and index.scores(plain)[0] == 0


def test_an_english_customer_gets_the_product_from_a_spanish_catalog(offline_catalog: Any) -> None:
    from catalog_ai.answerer import extractive_answer
    from catalog_ai.retrieval import search_explained

    question = "how much weight does the grab bar hold?"
    found = search_explained(question, k=3)
    assert found.translations["weight"] == ("peso",) and "barra" in found.translations["bar"]
    assert found.hits[0].text == CATALOG[2]
    answer = extractive_answer(question, found.hits, language="en")
    assert answer is not None
    text, refs = answer
    assert "150 kg" in text and "$199.900" in text and refs[0].sku == "AC-110"


@pytest.fixture
def offline_catalog(settings: Any, tmp_path: Any) -> Any:
    from catalog_ai.embedders import LocalEmbedder, reset_embedder_cache
    from catalog_ai.retrieval import BACKGROUND_TEXTS
    from catalog_ai.vector_store import ChunkMeta, load_current, write_store

    settings.OPENAI_API_KEY = ""
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    reset_embedder_cache()
    embedder = LocalEmbedder()
    metas = [
        ChunkMeta(
            id=i + 1,
            catalog_id=1,
            catalog="Catálogo",
            page=i + 1,
            position=0,
            skus=(text.split("Ref. ")[1].split(".")[0],),
            image="",
            text=text,
        )
        for i, text in enumerate(CATALOG)
    ]
    write_store(
        embedder.embed(CATALOG),
        metas,
        embedder=embedder.name,
        dim=embedder.dim,
        background=embedder.embed(BACKGROUND_TEXTS),
    )
    yield load_current()
    reset_embedder_cache()


def test_a_forked_worker_starts_its_own_dictionary_process_and_leaves_the_parents_alone() -> None:
    assert translate_words(["mirror"], "en", "es")
    parent = {key: c.proc.pid for key, c in translation._coprocesses.items() if c.proc is not None}
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        ok = False
        try:
            translation._cache.clear()
            ok = translate_words(["tank"], "en", "es").get("tank") == ("tanque", "depósito")
            mine = {key: c.proc.pid for key, c in translation._coprocesses.items() if c.proc is not None}
            ok = ok and all(mine[key] != pid for key, pid in parent.items() if key in mine)
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(child, 0)
    os.close(read)
    for key, pid in parent.items():  # the parent's processes still answer
        assert translation._coprocesses[key].proc.pid == pid and translation._coprocesses[key].proc.poll() is None
    translation._cache.clear()
    assert translate_words(["tank"], "en", "es")["tank"] == ("tanque", "depósito")
