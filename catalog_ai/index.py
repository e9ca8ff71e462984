"""Build the catalog retrieval index from the database: ``index_rebuild()`` and ``index_status()``.

Which chunks are indexed: every chunk of every catalog that is **active** and
either **ready**, or still **processing at the index stage** (``stage ==
"index"``: ingestion writes its chunks, then asks for the rebuild; it marks the
catalog ready first, but a catalog caught between the two is included too).
Pending, failed, and processing-before-the-index-stage catalogs are left out:
their chunks may be half written. Chunks with an empty text are skipped. With no
such catalog the store is written empty (searches then find nothing), so
deactivating or deleting the last catalog empties the index.

A rebuild is **incremental**: the vectors of the current store are reused for
every chunk whose text it already holds, as long as the store was built by the
same embedder (name and dimension); only the other texts are embedded (each
distinct text once). So a new or re-ingested catalog embeds only its own new
chunks, a deactivated or deleted one only drops out (nothing is embedded), and
the background sentences of catalog_ai.retrieval are embedded again only when
they or the embedder change (the store keeps a hash of them). When the embedder
changes (an OPENAI_API_KEY added or removed, another model or server, another
dimension) every chunk is embedded again. The new vectors go with the reused
ones into a new store version, published atomically (catalog_ai.vector_store);
every process picks it up on its next search.

Rebuilds are serialized by the Redis lock ``wia:lock:index`` (a second one
waits, then indexes the newer state), renewed between embedding slices; when
Redis cannot be reached a file lock beside the store stands in (one host). A
``progress(embedded, to_embed)`` callback, when given, is called before the
first slice and after each one (ingestion shows it in the admin and keeps its
heartbeat with it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["INDEX_STAGE", "LOCK_KEY", "index_rebuild", "index_status", "indexable_catalogs", "texts_key"]

logger = logging.getLogger(__name__)

LOCK_KEY = "wia:lock:index"
LOCK_TIMEOUT = 600  # seconds; renewed between embedding slices, so a long rebuild keeps it
INDEX_STAGE = "index"  # catalog_ai.ingestion.STAGE_INDEX
EMBED_SLICE = 256


def indexable_catalogs():  # -> QuerySet[Catalog]
    from django.db.models import Q

    from catalog_ai.models import Catalog, CatalogStatus

    return Catalog.objects.filter(active=True).filter(
        Q(status=CatalogStatus.READY) | Q(status=CatalogStatus.PROCESSING, stage=INDEX_STAGE)
    )


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _Renew:
    """Keeps the rebuild's lock alive between slices of work."""

    def __init__(self, lock: Any = None) -> None:
        self.lock = lock

    def __call__(self) -> None:
        if self.lock is not None:
            try:
                self.lock.reacquire()
            except Exception:  # lost it (expired); the rebuild still publishes atomically
                logger.warning("Index rebuild lock could not be renewed", exc_info=True)


@contextlib.contextmanager
def _index_lock(store_base: str) -> Iterator[_Renew]:
    import redis

    try:
        from whatsapp_ia.redis_client import redis_client

        lock = redis_client().lock(LOCK_KEY, timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_TIMEOUT)
        acquired = lock.acquire()
    except redis.exceptions.ConnectionError:
        logger.warning("Redis unreachable: the index rebuild uses a file lock (this host only)")
        with _file_lock(store_base + ".rebuild.lock"):
            yield _Renew()
        return
    if not acquired:
        raise TimeoutError(f"another index rebuild held {LOCK_KEY} for more than {LOCK_TIMEOUT} s")
    try:
        yield _Renew(lock)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("Index rebuild lock had expired before the rebuild finished")


def _chunk_rows(catalog_ids: list[int]) -> list[Any]:
    from catalog_ai.models import CatalogChunk
    from catalog_ai.vector_store import ChunkMeta

    rows = (
        CatalogChunk.objects.filter(catalog_id__in=catalog_ids)
        .select_related("catalog", "page")
        .order_by("catalog_id", "page__number", "position", "id")
    )
    metas = []
    for chunk in rows.iterator(chunk_size=2000):
        if not chunk.text:
            continue
        metas.append(
            ChunkMeta(
                id=chunk.pk,
                catalog_id=chunk.catalog_id,
                catalog=chunk.catalog.name,
                page=chunk.page.number,
                position=chunk.position,
                skus=tuple(str(s) for s in (chunk.skus or []) if s),
                image=chunk.page.image or "",
                text=chunk.text,
            )
        )
    return metas


def texts_key(texts: Sequence[str]) -> str:
    """A short hash of a list of texts (the background sentences' identity in the store)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:32]


@dataclass
class _Reusable:
    """The current store's vectors by chunk text, when it was built by the embedder at hand."""

    rows: dict[str, np.ndarray]  # views into the store's FAISS index (kept alive by ``store``)
    dim: int
    background: np.ndarray | None  # reusable background rows, or None
    store: Any = None

    @classmethod
    def none(cls) -> _Reusable:
        return cls(rows={}, dim=0, background=None)


def _reusable(base: Any, embedder: Any, background_key: str) -> _Reusable:
    """What the current store at ``base`` lends to the next version (nothing when another embedder built it)."""
    from catalog_ai.vector_store import load_current

    try:
        store = load_current(base)
    except Exception:  # an unreadable store is rebuilt from scratch
        logger.warning("The current catalog index could not be read; every chunk is embedded again", exc_info=True)
        return _Reusable.none()
    if store is None or store.embedder != embedder.name or not store.dim:
        return _Reusable.none()
    declared = _declared_dim(embedder)
    if declared and declared != store.dim:
        return _Reusable.none()
    vectors = store.vectors()
    rows = {chunk.text: vectors[row] for row, chunk in enumerate(store.chunks)}
    background = None
    if store.background_key == background_key and len(store.background):
        background = store.background
    return _Reusable(rows=rows, dim=store.dim, background=background, store=store)


def _declared_dim(embedder: Any) -> int:
    """The embedder's dimension when it is known without embedding anything (0 otherwise)."""
    attr = getattr(type(embedder), "dim", None)
    if isinstance(attr, property):  # computing it may cost a request: only what it already knows
        return int(getattr(embedder, "_dim", 0) or 0)
    return int(getattr(embedder, "dim", 0) or 0)


def _embed(
    embedder: Any, texts: list[str], *, renew: Callable[[], None], progress: Callable[[int, int], None] | None
) -> np.ndarray | None:
    """The texts' vectors, embedded EMBED_SLICE at a time (the lock renewed and progress told after each)."""
    if progress is not None:
        progress(0, len(texts))
    parts = []
    for start in range(0, len(texts), EMBED_SLICE):
        parts.append(np.asarray(embedder.embed(texts[start : start + EMBED_SLICE]), dtype=np.float32))
        renew()
        if progress is not None:
            progress(min(start + EMBED_SLICE, len(texts)), len(texts))
    return np.concatenate(parts) if parts else None


def index_rebuild(
    *, path: str | None = None, embedder: Any = None, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Index the chunks of the indexable catalogs, embedding only what the current store lacks; publish it.

    Returns ``{"chunks", "catalogs", "embedder", "dim", "embedded", "reused", "seconds", "version", "path"}``
    (``embedded``: chunk texts embedded now; ``reused``: chunks whose vector came from the previous version).
    ``path`` defaults to settings.AI_VECTOR_STORE_PATH, ``embedder`` to get_embedder(); ``progress(done,
    total)`` follows the embedding of the new texts.
    """
    from catalog_ai.embedders import get_embedder
    from catalog_ai.retrieval import BACKGROUND_TEXTS
    from catalog_ai.vector_store import store_base, write_store

    base = store_base(path)
    with _index_lock(str(base)) as renew:
        started = time.monotonic()
        catalogs = list(indexable_catalogs().order_by("id").values("id", "name"))
        metas = _chunk_rows([c["id"] for c in catalogs])
        embedder = embedder or get_embedder()
        background_key = texts_key(BACKGROUND_TEXTS)
        reuse = _reusable(base, embedder, background_key)
        missing = list(dict.fromkeys(m.text for m in metas if m.text not in reuse.rows))
        fresh = _embed(embedder, missing, renew=renew, progress=progress)
        if fresh is not None and reuse.rows and fresh.shape[1] != reuse.dim:
            # Same name, another dimension (e.g. a changed `dimensions`): nothing old is comparable.
            logger.warning("Embedder %s changed dimension %d -> %d", embedder.name, reuse.dim, fresh.shape[1])
            reuse = _Reusable.none()
            missing = list(dict.fromkeys(m.text for m in metas))
            fresh = _embed(embedder, missing, renew=renew, progress=progress)
        by_text = dict(reuse.rows)
        if fresh is not None:
            by_text.update(zip(missing, fresh, strict=True))
        if metas:
            vectors = np.ascontiguousarray(np.stack([by_text[m.text] for m in metas]), dtype=np.float32)
            dim = int(vectors.shape[1])
            background = reuse.background
            if background is None or background.shape[1] != dim:
                background = embedder.embed(BACKGROUND_TEXTS)
        else:
            dim = int(getattr(embedder, "dim", 0) or 0)
            vectors = np.zeros((0, dim), dtype=np.float32)
            background = None
        per_catalog: dict[int, int] = {}
        for m in metas:
            per_catalog[m.catalog_id] = per_catalog.get(m.catalog_id, 0) + 1
        info = write_store(
            vectors,
            metas,
            embedder=embedder.name,
            dim=dim,
            background=background,
            background_key=background_key if background is not None else "",
            catalogs=[{"id": c["id"], "name": c["name"], "chunks": per_catalog.get(c["id"], 0)} for c in catalogs],
            path=base,
        )
        result = {
            "chunks": len(metas),
            "catalogs": len(catalogs),
            "embedder": embedder.name,
            "dim": dim,
            "embedded": len(missing),
            "reused": sum(1 for m in metas if m.text in reuse.rows),
            "seconds": round(time.monotonic() - started, 3),
            "version": info["version"],
            "path": info["path"],
        }
    logger.info("Catalog index rebuilt: %s", result)
    return result


def index_status(*, path: str | None = None) -> dict[str, Any]:
    """What is indexed, with which embedder, and whether it lags behind the database or the current embedder."""
    import redis
    from django.db.models import Count, Q

    from catalog_ai.embedders import get_embedder
    from catalog_ai.vector_store import json_path, read_metadata, store_base

    base = store_base(path)
    meta = read_metadata(base) or {}
    embedder_meta = meta.get("embedder") or {}
    indexed_catalogs = {int(c["id"]): int(c.get("chunks") or 0) for c in meta.get("catalogs") or ()}
    wanted = {
        row["id"]: row["n"]
        for row in indexable_catalogs().annotate(n=Count("chunks", filter=~Q(chunks__text=""))).values("id", "n")
    }
    try:
        current = get_embedder().name
    except Exception as exc:  # e.g. the local model cannot load on this CPU
        current = f"unavailable: {exc}"
    faiss_file = base.parent / meta["faiss"] if meta.get("faiss") else None
    try:
        from whatsapp_ia.redis_client import redis_client

        rebuilding = bool(redis_client().exists(LOCK_KEY))
    except redis.exceptions.ConnectionError:
        rebuilding = None
    exists = bool(meta)
    return {
        "path": str(json_path(base)),
        "exists": exists,
        "version": meta.get("version", ""),
        "created_at": meta.get("created_at", ""),
        "embedder": embedder_meta.get("name", ""),
        "dim": int(embedder_meta.get("dim") or 0),
        "chunks": int(meta.get("count") or 0),
        "catalogs": [dict(c) for c in meta.get("catalogs") or ()],
        "faiss_bytes": faiss_file.stat().st_size if faiss_file and faiss_file.exists() else 0,
        "current_embedder": current,
        "embedder_matches": exists and embedder_meta.get("name") == current,
        "indexable_catalogs": len(wanted),
        "indexable_chunks": sum(wanted.values()),
        "stale": (not exists and bool(wanted))
        or (exists and (indexed_catalogs != wanted or embedder_meta.get("name") != current)),
        "rebuilding": rebuilding,
    }
