"""Index build from the database (incremental: only texts the store lacks are embedded), the store's atomic
versions, worker pickup, the rebuild lock, and the index stage's progress in ingestion and in the admin."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from catalog_ai import vector_store
from catalog_ai.embedders import reset_embedder_cache
from catalog_ai.index import LOCK_KEY, index_rebuild, index_status
from catalog_ai.models import Catalog, CatalogChunk, CatalogPage, CatalogStatus
from catalog_ai.retrieval import search
from catalog_ai.vector_store import ChunkMeta, StoreReader, json_path, load_current, read_metadata, write_store
from whatsapp_ia.fakes.openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]

KITCHEN = {
    1: [
        ("Mesón granito negro San Gabriel 200 x 60 cm. REF GR-NEG-200. Precio $1.250.000.", ["GR-NEG-200"]),
        ("Mesón granito negro San Gabriel 160 x 60 cm. REF GR-NEG-160. Precio $990.000.", ["GR-NEG-160"]),
    ],
    2: [
        ("Cuarzo blanco polar 300 x 60 cm, sin poros. REF CZ-BPL-300. Precio $2.650.000.", ["CZ-BPL-300"]),
        ("Garantía: 10 años en cuarzo, 5 años en granito.", []),
    ],
}
BATHS = {1: [("Lavamanos de porcelana blanca para baño. REF LM-POR-45. Precio $189.000.", ["LM-POR-45"])]}


def catalog_make(name: str, pages: dict[int, list[tuple[str, list[str]]]], **fields: Any) -> Catalog:
    fields.setdefault("status", CatalogStatus.READY)
    catalog = Catalog.objects.create(
        name=name, file=f"catalogs/{name}.pdf", sha256=hashlib.sha256(name.encode()).hexdigest(), **fields
    )
    for number, chunks in pages.items():
        page = CatalogPage.objects.create(
            catalog=catalog,
            number=number,
            text="\n".join(t for t, _ in chunks),
            image=f"catalogs/pages/{name}/{number}.jpg",
        )
        for position, (text, skus) in enumerate(chunks):
            CatalogChunk.objects.create(catalog=catalog, page=page, position=position, text=text, skus=skus)
    return catalog


@pytest.fixture
def offline(settings: Any, tmp_path: Path) -> Iterator[Any]:
    settings.OPENAI_API_KEY = ""
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "idx" / "catalog_index")
    reset_embedder_cache()
    yield settings
    reset_embedder_cache()


def faiss_files(settings: Any) -> list[str]:
    base = Path(settings.AI_VECTOR_STORE_PATH)
    return sorted(p.name for p in base.parent.iterdir() if p.suffix == ".faiss" or p.name.endswith(".tmp"))


def metas(n: int, offset: int = 0) -> list[ChunkMeta]:
    return [ChunkMeta(offset + i, 1, "c", 1, i, (), "", f"texto {offset + i}") for i in range(n)]


def unit_rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# --- index_rebuild from the database -------------------------------------------------------------


@pytest.mark.django_db
def test_index_rebuild_embeds_the_active_ready_catalogs(offline: Any) -> None:
    kitchen = catalog_make("Cocinas 2025", KITCHEN)
    baths = catalog_make("Baños", BATHS)
    info = index_rebuild()
    assert info["chunks"] == 5 and info["catalogs"] == 2
    assert info["embedder"] == "local:multilingual-e5-small-q4" and info["dim"] == 384
    assert info["version"] and info["seconds"] >= 0 and info["path"].endswith("catalog_index.json")

    meta = read_metadata()
    assert meta["version"] == info["version"] and meta["embedder"] == {"name": info["embedder"], "dim": 384}
    assert meta["faiss"] == f"catalog_index.{info['version']}.faiss"
    expected_ids = list(
        CatalogChunk.objects.order_by("catalog_id", "page__number", "position").values_list("id", flat=True)
    )
    assert [c["id"] for c in meta["chunks"]] == expected_ids  # index order
    first = meta["chunks"][0]
    assert first["catalog_id"] == kitchen.pk and first["catalog"] == "Cocinas 2025" and first["page"] == 1
    assert first["skus"] == ["GR-NEG-200"] and first["image"] == "catalogs/pages/Cocinas 2025/1.jpg"
    assert first["text"].startswith("Mesón granito negro")
    assert {c["id"]: c["chunks"] for c in meta["catalogs"]} == {kitchen.pk: 4, baths.pk: 1}
    assert len(meta["background"]) > 0

    store = load_current()
    assert store.version == info["version"] and len(store) == 5 and store.index.ntotal == 5
    hits = search("precio del lavamanos de porcelana", k=2)
    assert hits[0].catalog == "Baños" and hits[0].skus == ("LM-POR-45",) and hits[0].score >= 0.25
    assert search("GR NEG 160", k=1)[0].chunk_id == expected_ids[1]


@pytest.mark.django_db
def test_deactivated_deleted_and_unfinished_catalogs_drop_out(offline: Any) -> None:
    kitchen = catalog_make("Cocinas", KITCHEN)
    baths = catalog_make("Baños", BATHS)
    catalog_make("Pendiente", {1: [("Pendiente: grifería dorada REF GF-ORO-1", ["GF-ORO-1"])]}, status="pending")
    catalog_make("Fallido", {1: [("Fallido: grifería dorada REF GF-ORO-2", ["GF-ORO-2"])]}, status="failed")
    catalog_make("A medias", {1: [("A medias: grifería REF GF-ORO-3", [])]}, status="processing", stage="chunks")
    finishing = catalog_make("Indexando", {1: [("Campana extractora de isla REF CP-ISL-90", [])]}, status="processing")
    finishing.stage = "index"
    finishing.save()
    assert {c["name"] for c in read_metadata_after(index_rebuild)["catalogs"]} == {"Cocinas", "Baños", "Indexando"}

    kitchen.active = False
    kitchen.save()
    meta = read_metadata_after(index_rebuild)
    assert {c["catalog"] for c in meta["chunks"]} == {"Baños", "Indexando"}
    assert search("GR-NEG-200", k=3) == [] or all(h.catalog != "Cocinas" for h in search("GR-NEG-200", k=3))

    baths.delete()
    meta = read_metadata_after(index_rebuild)
    assert {c["catalog"] for c in meta["chunks"]} == {"Indexando"}
    assert all(h.catalog == "Indexando" for h in search("lavamanos de porcelana", k=5))

    Catalog.objects.all().delete()
    info = index_rebuild()
    assert info["chunks"] == 0 and info["catalogs"] == 0
    assert load_current() is not None and len(load_current()) == 0 and search("mesón", k=3) == []


def read_metadata_after(rebuild: Any) -> dict[str, Any]:
    rebuild()
    return read_metadata()


@pytest.mark.django_db
def test_index_status_reports_what_is_indexed_and_when_it_is_stale(offline: Any) -> None:
    status = index_status()
    assert status["exists"] is False and status["stale"] is False and status["chunks"] == 0
    kitchen = catalog_make("Cocinas", KITCHEN)
    assert index_status()["stale"] is True  # a ready catalog, no index yet
    info = index_rebuild()
    status = index_status()
    assert status["exists"] and status["version"] == info["version"] and status["chunks"] == 4
    assert status["embedder"] == status["current_embedder"] == "local:multilingual-e5-small-q4"
    assert status["embedder_matches"] is True and status["stale"] is False and status["rebuilding"] is False
    assert status["indexable_catalogs"] == 1 and status["indexable_chunks"] == 4 and status["faiss_bytes"] > 0
    assert status["catalogs"] == [{"id": kitchen.pk, "name": "Cocinas", "chunks": 4}]
    kitchen.active = False
    kitchen.save()
    assert index_status()["stale"] is True


@pytest.mark.django_db
def test_rebuild_with_openai_embeddings_then_search_warns_after_the_key_goes(
    settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    catalog_make("Cocinas", KITCHEN)
    with FakeOpenAI() as server:
        settings.OPENAI_API_KEY = "sk-index"
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_MAX_RETRIES = 0
        reset_embedder_cache()
        try:
            info = index_rebuild()
            assert info["embedder"] == f"openai:text-embedding-3-small@127.0.0.1:{server.port}" and info["dim"] == 1536
            calls = server.requests_to("/v1/embeddings")
            assert [len(c.body["input"]) for c in calls] == [4, 24]  # the chunks, then the background sentences
            assert all(c.authorization == "Bearer sk-index" for c in calls)
            hits = search("cuarzo blanco sin poros", k=1)
            assert hits[0].skus == ("CZ-BPL-300",) and hits[0].dense_rank == 1
        finally:
            reset_embedder_cache()
    settings.OPENAI_API_KEY = ""  # the key is gone: the local embedder no longer matches the index
    reset_embedder_cache()
    try:
        assert index_status()["embedder_matches"] is False and index_status()["stale"] is True
        hits = search("GR NEG 200", k=1)
        assert hits[0].skus == ("GR-NEG-200",) and hits[0].dense_rank is None
        assert any("Rebuild the index" in r.getMessage() for r in caplog.records)
        assert index_rebuild()["embedder"] == "local:multilingual-e5-small-q4"
        assert search("cuarzo blanco sin poros", k=1)[0].dense_rank is not None
    finally:
        reset_embedder_cache()


# --- the store on disk ---------------------------------------------------------------------------


def test_the_store_is_replaced_atomically_and_old_versions_are_removed(offline: Any) -> None:
    reader = StoreReader()
    assert reader.current() is None
    v1 = write_store(unit_rows(3), metas(3), embedder="test", dim=8)
    old = reader.current()
    assert old.version == v1["version"] and len(old) == 3
    assert faiss_files(offline) == [f"catalog_index.{v1['version']}.faiss"]

    v2 = write_store(unit_rows(5, seed=1), metas(5, offset=100), embedder="test", dim=8)
    assert v2["version"] != v1["version"]
    # The old version's file is gone, no temporary is left, and the JSON names the new file.
    assert faiss_files(offline) == [f"catalog_index.{v2['version']}.faiss"]
    meta = json.loads(json_path().read_text())
    assert meta["version"] == v2["version"] and (json_path().parent / meta["faiss"]).exists()
    # A reader still holding the old version keeps working (it is in memory)...
    assert old.search_dense(unit_rows(3)[1], 1)[0][0] == 1 and old.chunks[0].id == 0
    assert old.lexical.search("texto 2")[0][0] == 2
    # ...and its next look sees the new one.
    new = reader.current()
    assert new.version == v2["version"] and len(new) == 5 and new.chunks[0].id == 100
    assert reader.current() is new  # unchanged file: the same object, no reload


def test_a_reader_that_loses_the_race_loads_the_newer_version(offline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    write_store(unit_rows(2), metas(2), embedder="test", dim=8)
    reader = StoreReader()
    real_load = vector_store._load
    raced = []

    def load_while_a_writer_publishes(base: Path, meta: dict[str, Any]) -> Any:
        if not raced:  # between reading the JSON and opening its .faiss, a new version lands
            raced.append(write_store(unit_rows(4), metas(4, offset=50), embedder="test", dim=8))
        return real_load(base, meta)

    monkeypatch.setattr(vector_store, "_load", load_while_a_writer_publishes)
    store = reader.current()
    assert store.version == raced[0]["version"] and len(store) == 4


def test_a_failed_write_leaves_the_current_version_alone(offline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    v1 = write_store(unit_rows(2), metas(2), embedder="test", dim=8)

    def broken_dump(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(vector_store.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        write_store(unit_rows(3), metas(3), embedder="test", dim=8)
    monkeypatch.undo()
    assert read_metadata()["version"] == v1["version"]
    assert faiss_files(offline) == [f"catalog_index.{v1['version']}.faiss"]
    assert load_current().version == v1["version"]
    with pytest.raises(ValueError, match="shape"):
        write_store(unit_rows(2, dim=4), metas(2), embedder="test", dim=8)


@pytest.mark.django_db
def test_two_worker_processes_pick_up_a_rebuild_without_restarting(offline: Any) -> None:
    """Two readers stand for two workers in this process; a real subprocess checks the same across processes."""
    catalog_make("Cocinas", KITCHEN)
    first = index_rebuild()
    web, celery = StoreReader(), StoreReader()
    assert web.current().version == celery.current().version == first["version"]

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                from catalog_ai.vector_store import StoreReader
                reader = StoreReader(sys.argv[1])
                store = reader.current(); print(store.version, len(store), flush=True)
                sys.stdin.readline()                      # the parent rebuilds meanwhile
                store = reader.current(); print(store.version, len(store), flush=True)
                """
            ),
            offline.AI_VECTOR_STORE_PATH,
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().split() == [first["version"], "4"]
        catalog_make("Baños", BATHS)
        second = index_rebuild()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().split() == [second["version"], "5"]
    finally:
        child.stdin.close()
        child.wait(timeout=60)
        assert child.returncode == 0, child.stderr.read()
    assert web.current().version == celery.current().version == second["version"]
    assert len(web.current()) == 5


@pytest.mark.django_db(transaction=True)
def test_rebuilds_wait_for_each_other_on_the_redis_lock(offline: Any, redis_client: Any) -> None:
    catalog_make("Cocinas", KITCHEN)
    lock = redis_client.lock(LOCK_KEY, timeout=60)
    assert lock.acquire(blocking=False)
    results: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: results.append(index_rebuild()))
    worker.start()
    time.sleep(1.0)
    assert worker.is_alive() and not results and read_metadata() is None  # waiting for the lock
    assert index_status()["rebuilding"] is True
    lock.release()
    worker.join(timeout=120)
    assert results and results[0]["chunks"] == 4

    # Two at once: both finish, one after the other, and the store is the later one.
    done: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: done.append(index_rebuild())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(done) == 2 and done[0]["version"] != done[1]["version"]
    assert read_metadata()["version"] == done[-1]["version"]
    assert len(faiss_files(offline)) == 1
    assert not redis_client.exists(LOCK_KEY)


# --- incremental re-indexing ---------------------------------------------------------------------


class CountingEmbedder:
    """The real offline embedder, counting the texts it is asked to embed (queries are not counted)."""

    def __init__(self, inner: Any = None, *, name: str = "") -> None:
        from catalog_ai.embedders import get_embedder

        self.inner = inner or get_embedder()
        self.name = name or self.inner.name
        self.relevance_range = getattr(self.inner, "relevance_range", None)
        self.texts: list[str] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Any) -> np.ndarray:
        self.texts += list(texts)
        return self.inner.embed(texts)

    def embed_query(self, texts: Any) -> np.ndarray:
        return self.inner.embed_query(texts)

    def take(self) -> list[str]:
        texts, self.texts = self.texts, []
        return texts


class HashingEmbedder:
    """Another (tiny, real) embedder: character trigrams hashed into 64 dimensions."""

    name = "test:trigrams-64"
    dim = 64

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: Any) -> np.ndarray:
        self.texts += list(texts)
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                digest = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest()
                rows[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)

    embed_query = embed


def chunk_texts(*catalogs: Catalog) -> list[str]:
    return list(
        CatalogChunk.objects.filter(catalog__in=catalogs)
        .order_by("catalog_id", "page__number", "position")
        .values_list("text", flat=True)
    )


QUESTIONS = ("precio del lavamanos de porcelana", "cuarzo blanco sin poros", "GR NEG 160", "garantía del granito")


def ranked(k: int = 5) -> list[list[tuple[int, float]]]:
    return [[(h.chunk_id, round(h.score, 4)) for h in search(q, k=k)] for q in QUESTIONS]


@pytest.mark.django_db
def test_a_new_catalog_embeds_only_its_own_chunks_and_searches_match_a_full_rebuild(offline: Any) -> None:
    counting = CountingEmbedder()
    kitchen = catalog_make("Cocinas", KITCHEN)
    first = index_rebuild(embedder=counting)
    background = len(counting.texts) - 4
    assert counting.take()[:4] == chunk_texts(kitchen) and background > 0  # the chunks, then the background
    assert (first["embedded"], first["reused"]) == (4, 0)

    baths = catalog_make("Baños", BATHS)
    second = index_rebuild(embedder=counting)
    assert counting.take() == chunk_texts(baths)  # not the kitchen's chunks, not the background sentences
    assert (second["embedded"], second["reused"], second["chunks"]) == (1, 4, 5)
    incremental = load_current()
    assert incremental.version == second["version"] and len(incremental) == 5
    incremental_hits = ranked()

    # The same state indexed from scratch: the same vectors (row for row) and the same search results.
    for stale in Path(offline.AI_VECTOR_STORE_PATH).parent.iterdir():
        stale.unlink()
    full = index_rebuild(embedder=counting)
    assert (full["embedded"], full["reused"]) == (5, 0) and len(counting.take()) == 5 + background
    scratch = load_current()
    assert [c.id for c in scratch.chunks] == [c.id for c in incremental.chunks]
    np.testing.assert_allclose(scratch.vectors(), incremental.vectors(), atol=1e-5)
    np.testing.assert_allclose(scratch.background, incremental.background, atol=1e-5)
    assert ranked() == incremental_hits and incremental_hits[0][0][0] == CatalogChunk.objects.get(catalog=baths).pk


@pytest.mark.django_db
def test_a_replaced_pdf_re_embeds_only_that_catalogs_changed_chunks(offline: Any) -> None:
    counting = CountingEmbedder()
    kitchen = catalog_make("Cocinas", KITCHEN)
    baths = catalog_make("Baños", BATHS)
    index_rebuild(embedder=counting)
    counting.take()

    # Re-ingesting a new PDF swaps the catalog's pages and chunks for new rows: one price changed, one
    # product is new, the rest reads the same.
    CatalogPage.objects.filter(catalog=kitchen).delete()
    new_pages = {
        1: [*KITCHEN[1], ("Mesón granito negro San Gabriel 240 x 60 cm. REF GR-NEG-240. Precio $1.490.000.", [])],
        2: [("Cuarzo blanco polar 300 x 60 cm, sin poros. REF CZ-BPL-300. Precio $2.790.000.", ["CZ-BPL-300"])],
    }
    for number, chunks in new_pages.items():
        page = CatalogPage.objects.create(catalog=kitchen, number=number, text="", image=f"p/{number}.jpg")
        for position, (text, skus) in enumerate(chunks):
            CatalogChunk.objects.create(catalog=kitchen, page=page, position=position, text=text, skus=skus)
    info = index_rebuild(embedder=counting)
    assert counting.take() == [new_pages[1][2][0], new_pages[2][0][0]]
    assert (info["embedded"], info["reused"], info["chunks"]) == (2, 3, 5)
    hits = search("precio cuarzo blanco polar", k=1)
    assert hits[0].catalog == "Cocinas" and "2.790.000" in hits[0].text and hits[0].dense_rank == 1
    assert search("lavamanos de porcelana", k=1)[0].catalog == baths.name


@pytest.mark.django_db
def test_deactivating_or_deleting_a_catalog_embeds_nothing(offline: Any) -> None:
    counting = CountingEmbedder()
    kitchen = catalog_make("Cocinas", KITCHEN)
    baths = catalog_make("Baños", BATHS)
    index_rebuild(embedder=counting)
    counting.take()
    before = load_current()

    kitchen.active = False
    kitchen.save()
    info = index_rebuild(embedder=counting)
    assert counting.take() == [] and (info["embedded"], info["reused"], info["chunks"]) == (0, 1, 1)
    store = load_current()
    assert [c.catalog for c in store.chunks] == ["Baños"] and store.index.ntotal == 1
    np.testing.assert_array_equal(store.vectors()[0], before.vectors()[4])  # the same vector, moved up
    np.testing.assert_array_equal(store.background, before.background)
    assert all(h.catalog == "Baños" for h in search("mesón granito negro", k=5))

    baths.delete()
    info = index_rebuild(embedder=counting)
    assert counting.take() == [] and info["chunks"] == 0 and len(load_current()) == 0

    kitchen.active = True  # its vectors were dropped with it: back in, its chunks are embedded again
    kitchen.save()
    info = index_rebuild(embedder=counting)
    assert counting.take()[:4] == chunk_texts(kitchen) and info["embedded"] == 4


@pytest.mark.django_db
def test_switching_the_embedder_re_embeds_everything(offline: Any) -> None:
    counting = CountingEmbedder()
    kitchen = catalog_make("Cocinas", KITCHEN)
    baths = catalog_make("Baños", BATHS)
    index_rebuild(embedder=counting)
    counting.take()

    other = HashingEmbedder()
    info = index_rebuild(embedder=other)
    assert other.texts[:5] == chunk_texts(kitchen, baths) and len(other.texts) > 5  # and the background
    assert (info["embedder"], info["dim"], info["embedded"], info["reused"]) == ("test:trigrams-64", 64, 5, 0)
    assert load_current().dim == 64 and load_current().background.shape[1] == 64

    back = index_rebuild(embedder=counting)  # and back: nothing of the 64-dimension store is reused
    assert counting.take()[:5] == chunk_texts(kitchen, baths)
    assert (back["embedder"], back["dim"], back["embedded"]) == ("local:multilingual-e5-small-q4", 384, 5)
    assert search("lavamanos de porcelana", k=1)[0].catalog == "Baños"

    # Same name, another dimension (an OpenAI-compatible server's `dimensions` changed): all again.
    renamed = HashingEmbedder()
    renamed.name = counting.name
    info = index_rebuild(embedder=renamed)
    assert renamed.texts[:5] == chunk_texts(kitchen, baths) and (info["dim"], info["embedded"]) == (64, 5)


@pytest.mark.django_db
def test_duplicate_texts_are_embedded_once_and_progress_follows_the_slices(
    offline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog_ai import index as index_module

    monkeypatch.setattr(index_module, "EMBED_SLICE", 2)
    counting = CountingEmbedder()
    same = "Garantía: 10 años en cuarzo, 5 años en granito."
    catalog_make("Cocinas", {1: [(same, []), ("Mesón A", []), ("Mesón B", [])], 2: [(same, []), ("Mesón C", [])]})
    seen: list[tuple[int, int]] = []
    info = index_rebuild(embedder=counting, progress=lambda done, total: seen.append((done, total)))
    assert counting.take()[:4] == [same, "Mesón A", "Mesón B", "Mesón C"]
    assert seen == [(0, 4), (2, 4), (4, 4)] and (info["embedded"], info["chunks"]) == (4, 5)
    store = load_current()
    np.testing.assert_array_equal(store.vectors()[0], store.vectors()[3])

    seen.clear()
    index_rebuild(embedder=counting, progress=lambda done, total: seen.append((done, total)))
    assert counting.take() == [] and seen == [(0, 0)]


@pytest.mark.django_db
def test_a_store_written_before_background_keys_gets_its_background_embedded_again(offline: Any) -> None:
    counting = CountingEmbedder()
    catalog_make("Cocinas", KITCHEN)
    index_rebuild(embedder=counting)
    background = counting.take()[4:]
    meta = read_metadata()
    del meta["background_key"]  # as the format was before incremental re-indexing
    json_path().write_text(json.dumps(meta))
    assert load_current().background_key == ""
    info = index_rebuild(embedder=counting)
    assert counting.take() == background and (info["embedded"], info["reused"]) == (0, 4)
    assert load_current().background_key and len(load_current().background) == len(background)


@pytest.mark.django_db
def test_ingestion_shows_how_far_the_embedding_of_its_new_chunks_is(offline: Any, admin_user: Any) -> None:
    """The admin list, read at each progress report: pages done, then the index stage's embedding figures."""
    import io

    from django.contrib.admin.sites import site
    from django.test import RequestFactory
    from django.utils import translation

    from catalog_ai.ingestion import catalog_create_from_upload, catalog_ingest
    from catalog_ai.tests import pdfs

    model_admin = site._registry[Catalog]
    request = RequestFactory().get("/admin/catalog_ai/catalog/")
    request.user = admin_user

    def ingest(name: str, pdf: bytes) -> tuple[Catalog, list[str], dict[str, Any]]:
        catalog, _created = catalog_create_from_upload(name=name, file=io.BytesIO(pdf), filename=f"{name}.pdf")
        shown: list[str] = []

        def progress(done: int, total: int, stage: str) -> None:
            with translation.override("en"):
                shown.append(str(model_admin.progress(Catalog.objects.get(pk=catalog.pk))))

        summary = catalog_ingest(catalog_id=catalog.pk, progress=progress)
        return catalog, shown, summary

    first, shown, summary = ingest("Mesones", pdfs.catalog_pdf())
    chunks = first.chunks.count()
    embedding = [s for s in shown if "new chunks embedded" in s]
    assert embedding and f'title="2/2 pages · Index: 0/{chunks} new chunks embedded"' in embedding[0]
    assert f'title="2/2 pages · Index: {chunks}/{chunks} new chunks embedded"' in embedding[-1]
    assert summary["index_info"]["embedded"] == chunks and summary["index_info"]["reused"] == 0
    assert "embedding" not in Catalog.objects.get(pk=first.pk).summary  # the final summary replaced it

    lines = [["Grifería monocontrol cromada para cocina. REF GF-MONO-1. Precio $320.000."], ["Garantía de 2 años."]]
    second, shown, summary = ingest("Griferías", pdfs.text_pdf(lines))
    new = second.chunks.count()
    assert any(f'title="2/2 pages · Index: {new}/{new} new chunks embedded"' in s for s in shown)
    assert (summary["index_info"]["embedded"], summary["index_info"]["reused"]) == (new, chunks)
    assert search("grifería monocontrol", k=1)[0].catalog == "Griferías"
