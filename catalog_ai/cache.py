"""The answer cache: repeated questions are answered from Redis (Django's cache) for AISettings.cache_ttl.

The key hashes the normalized question, what the conversation adds to it (image
descriptions, ad headline), the index version (catalogs and chunks as they are now)
and every setting that changes an answer (models, limits, threshold, fallback,
online or offline). ``answer_cache_clear()`` bumps a generation number that is part
of every key, so all earlier entries are forgotten at once without scanning Redis.
A cache that does not answer is logged and skipped: answering never depends on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

__all__ = ["answer_cache_clear", "answer_cache_get", "answer_cache_key", "answer_cache_set", "index_version"]

_PREFIX = "ai:answer"
_GENERATION_KEY = "ai:answer:generation"


def index_version() -> str:
    """Changes whenever the searchable catalogs change: the vector store's version, and the catalog rows."""
    from django.db.models import Count, Max

    from catalog_ai.models import Catalog, CatalogChunk

    store = ""
    try:
        from catalog_ai.vector_store import load_current

        current = load_current()
        store = str(getattr(current, "version", "") or "") if current is not None else ""
    except Exception:  # no index yet, or unreadable: the catalog rows still tell versions apart
        store = ""
    catalogs = Catalog.objects.aggregate(n=Count("id"), last=Max("updated_at"), top=Max("id"))
    active = list(Catalog.objects.filter(active=True).order_by("id").values_list("id", "status"))
    chunks = CatalogChunk.objects.aggregate(n=Count("id"), top=Max("id"))
    raw = json.dumps([store, catalogs, active, chunks], default=str, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _generation() -> int:
    try:
        return int(cache.get(_GENERATION_KEY) or 0)
    except Exception:  # the cache is an optimisation, never a requirement
        logger.warning("Answer cache unavailable", exc_info=True)
        return -1


def answer_cache_key(*, question: str, extras: list[str], settings_fingerprint: dict[str, Any]) -> str | None:
    """The cache key for one question; None when the cache is unavailable."""
    generation = _generation()
    if generation < 0:
        return None
    raw = json.dumps(
        {"q": question, "x": extras, "s": settings_fingerprint, "v": index_version(), "g": generation},
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return f"{_PREFIX}:{hashlib.sha256(raw.encode()).hexdigest()}"


def answer_cache_get(key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    try:
        value = cache.get(key)
    except Exception:
        logger.warning("Answer cache read failed", exc_info=True)
        return None
    return value if isinstance(value, dict) else None


def answer_cache_set(key: str | None, value: dict[str, Any], *, ttl: int) -> None:
    if not key or ttl <= 0:
        return
    try:
        cache.set(key, value, timeout=ttl)
    except Exception:
        logger.warning("Answer cache write failed", exc_info=True)


def answer_cache_clear() -> None:
    """Forget every cached answer (settings changed, a catalog was re-indexed, tests)."""
    try:
        try:
            cache.incr(_GENERATION_KEY)
        except ValueError:
            cache.set(_GENERATION_KEY, 1, timeout=None)
    except Exception:
        logger.warning("Answer cache clear failed", exc_info=True)
