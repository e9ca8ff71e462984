"""Build the catalog retrieval index from the database: ``index_rebuild()`` and ``index_status()``.

Which chunks are indexed: every chunk of every catalog that is **active** and
either **ready**, or still **processing at the index stage** (``stage ==
"index"``: ingestion writes its chunks, then asks for the rebuild; it marks the
catalog ready first, but a catalog caught between the two is included too).
Pending, failed, and processing-before-the-index-stage catalogs are left out:
their chunks may be half written. Chunks with an empty text are skipped. With no
such catalog the store is written empty (searches then find nothing), so
deactivating or deleting the last catalog empties the index.

A rebuild embeds everything again with ``get_embedder()`` (so it also moves
the index to a new embedder after an OPENAI_API_KEY is added or removed) and
publishes a new store version atomically (catalog_ai.vector_store); every
process picks it up on its next search. Rebuilds are serialized by the Redis
lock ``wia:lock:index`` (a second one waits, then indexes the newer state);
when Redis cannot be reached a file lock beside the store stands in (one host).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["INDEX_STAGE", "LOCK_KEY", "index_rebuild", "index_status", "indexable_catalogs"]

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


def index_rebuild(*, path: str | None = None, embedder: Any = None) -> dict[str, Any]:
    """Re-embed the chunks of the indexable catalogs and publish a new store version.

    Returns ``{"chunks", "catalogs", "embedder", "dim", "seconds", "version", "path"}``.
    ``path`` defaults to settings.AI_VECTOR_STORE_PATH, ``embedder`` to get_embedder().
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
        parts = []
        for start in range(0, len(metas), EMBED_SLICE):
            parts.append(embedder.embed([m.text for m in metas[start : start + EMBED_SLICE]]))
            renew()
        if parts:
            vectors = np.concatenate(parts).astype(np.float32)
            dim = int(vectors.shape[1])
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
            catalogs=[{"id": c["id"], "name": c["name"], "chunks": per_catalog.get(c["id"], 0)} for c in catalogs],
            path=base,
        )
        result = {
            "chunks": len(metas),
            "catalogs": len(catalogs),
            "embedder": embedder.name,
            "dim": dim,
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
