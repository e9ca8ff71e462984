"""The catalog vector store on disk: a FAISS FlatIP index plus JSON metadata, replaced atomically.

Files, for ``base = settings.AI_VECTOR_STORE_PATH`` (e.g. ``var/catalog_index``):

* ``<base>.<version>.faiss``: the vectors (``IndexFlatIP``; rows are unit
  length, so inner product is cosine). A new file per version.
* ``<base>.json``: the metadata, and the pointer to the current ``.faiss``:
  ``{"format", "version", "created_at", "embedder": {"name", "dim"}, "faiss",
  "count", "catalogs": [{"id", "name", "chunks"}], "chunks": [{"id",
  "catalog_id", "catalog", "page", "position", "skus", "image", "text"}],
  "background": <base64 float32 rows>, "background_key"}``; ``chunks[i]`` is row ``i`` of the index.
  ``background_key`` names the sentences the background rows embed (catalog_ai.index reuses the rows
  while it matches; a store written before it existed reads as ``""``).

Writing (:func:`write_store`): the new ``.faiss`` is written to a temporary
file in the same directory, fsynced and renamed to its versioned name; then
the JSON the same way, **last**. A reader therefore sees either the old JSON
(which names the old ``.faiss``) or the new one (which names the new
``.faiss``, already in place): never a mismatched pair. Older ``.faiss``
files are deleted after the switch; a reader that read the old JSON a moment
before and then misses its ``.faiss`` re-reads the JSON and loads the new
version (:class:`StoreReader` retries).

Reading (:func:`load_current` / :class:`StoreReader`): the loaded store is
cached per process and the JSON is ``os.stat``-ed on every call (inode, mtime,
size): when a rebuild has replaced it, the next search loads the new version,
so every web and Celery worker picks it up without a restart.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from catalog_ai.lexical import LexicalIndex

__all__ = [
    "FORMAT",
    "ChunkMeta",
    "Store",
    "StoreReader",
    "json_path",
    "load_current",
    "read_metadata",
    "store_base",
    "write_store",
]

logger = logging.getLogger(__name__)

FORMAT = 1


def store_base(path: str | os.PathLike[str] | None = None) -> Path:
    """The store's base path (no suffix): the argument, else settings.AI_VECTOR_STORE_PATH."""
    if path is None:
        from django.conf import settings

        path = settings.AI_VECTOR_STORE_PATH
    base = Path(path)
    if base.suffix in (".json", ".faiss"):
        base = base.with_suffix("")
    return base


def json_path(base: str | os.PathLike[str] | None = None) -> Path:
    base = store_base(base)
    return base.with_name(base.name + ".json")


@dataclass(frozen=True)
class ChunkMeta:
    """What a search hit needs to know about one indexed chunk."""

    id: int
    catalog_id: int
    catalog: str
    page: int
    position: int
    skus: tuple[str, ...]
    image: str
    text: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkMeta:
        return cls(
            id=int(data["id"]),
            catalog_id=int(data.get("catalog_id") or 0),
            catalog=str(data.get("catalog") or ""),
            page=int(data.get("page") or 0),
            position=int(data.get("position") or 0),
            skus=tuple(str(s) for s in data.get("skus") or ()),
            image=str(data.get("image") or ""),
            text=str(data.get("text") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "catalog_id": self.catalog_id,
            "catalog": self.catalog,
            "page": self.page,
            "position": self.position,
            "skus": list(self.skus),
            "image": self.image,
            "text": self.text,
        }

    @property
    def lexical_text(self) -> str:
        """The text the lexical index sees: the chunk plus its SKUs (so a code the text garbled still matches)."""
        return f"{self.text} {' '.join(self.skus)}" if self.skus else self.text


@dataclass
class Store:
    """One loaded version of the store. Immutable once loaded; share it freely between threads."""

    version: str
    embedder: str
    dim: int
    chunks: tuple[ChunkMeta, ...]
    index: Any  # faiss.IndexFlatIP, or None when the store holds no vector
    background: np.ndarray
    created_at: str = ""
    catalogs: tuple[dict[str, Any], ...] = ()
    background_key: str = ""
    _lexical: LexicalIndex | None = field(default=None, repr=False)
    _pages: dict[tuple[int, int], tuple[ChunkMeta, ...]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def lexical(self) -> LexicalIndex:
        """BM25 over the chunks' texts, built on first use and kept with this version."""
        if self._lexical is None:
            with self._lock:
                if self._lexical is None:
                    from catalog_ai.lexical import LexicalIndex

                    self._lexical = LexicalIndex.build([c.lexical_text for c in self.chunks])
        return self._lexical

    def page_chunks(self, catalog_id: int, page: int) -> tuple[ChunkMeta, ...]:
        """The chunks of one catalog page, in store order (an index built on first use, kept with this version)."""
        if self._pages is None:
            with self._lock:
                if self._pages is None:
                    pages: dict[tuple[int, int], list[ChunkMeta]] = {}
                    for chunk in self.chunks:
                        pages.setdefault((chunk.catalog_id, chunk.page), []).append(chunk)
                    self._pages = {key: tuple(found) for key, found in pages.items()}
        return self._pages.get((catalog_id, page), ())

    def vectors(self) -> np.ndarray:
        """The index's rows as a read-only (n, dim) float32 view (no copy)."""
        if self.index is None or not self.index.ntotal:
            return np.zeros((0, self.dim), dtype=np.float32)
        import faiss

        flat = faiss.rev_swig_ptr(self.index.get_xb(), self.index.ntotal * self.index.d)
        view = np.asarray(flat).reshape(self.index.ntotal, self.index.d)
        view.flags.writeable = False
        return view

    def search_dense(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k rows nearest to a unit vector, as (row, cosine), best first."""
        if self.index is None or not self.index.ntotal or k <= 0:
            return []
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        scores, rows = self.index.search(query, min(k, self.index.ntotal))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


# --------------------------------------------------------------------------- writing


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _new_version() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:12]


def write_store(
    vectors: np.ndarray,
    chunks: Sequence[ChunkMeta],
    *,
    embedder: str,
    dim: int,
    background: np.ndarray | None = None,
    background_key: str = "",
    catalogs: Sequence[dict[str, Any]] = (),
    path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Publish a new version of the store atomically; returns its metadata (without chunks and background)."""
    base = store_base(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if len(chunks) and (not dim or vectors.shape != (len(chunks), dim)):
        raise ValueError(f"vectors of shape {vectors.shape} for {len(chunks)} chunks of dim {dim}")
    with _write_lock(base):
        return _write(
            base,
            vectors,
            chunks,
            embedder=embedder,
            dim=dim,
            background=background,
            background_key=background_key,
            catalogs=catalogs,
        )


@contextlib.contextmanager
def _write_lock(base: Path) -> Iterator[None]:
    """Writers on one host take turns (index_rebuild also holds a Redis lock across hosts)."""
    import fcntl

    with open(base.parent / f".{base.name}.write.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write(
    base: Path,
    vectors: np.ndarray,
    chunks: Sequence[ChunkMeta],
    *,
    embedder: str,
    dim: int,
    background: np.ndarray | None,
    background_key: str,
    catalogs: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    import faiss

    directory = base.parent
    version = _new_version()
    faiss_name = f"{base.name}.{version}.faiss"

    if dim:
        index = faiss.IndexFlatIP(dim)
        if len(chunks):
            index.add(vectors)
        fd, tmp = tempfile.mkstemp(prefix=f".{faiss_name}.", suffix=".tmp", dir=directory)
        os.close(fd)
        try:
            faiss.write_index(index, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, directory / faiss_name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    else:
        faiss_name = ""

    bg = np.zeros((0, dim), dtype=np.float32) if background is None else np.asarray(background, dtype=np.float32)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": version,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "embedder": {"name": embedder, "dim": int(dim)},
        "faiss": faiss_name,
        "count": len(chunks),
        "catalogs": [dict(c) for c in catalogs],
        "chunks": [c.to_json() for c in chunks],
        "background": base64.b64encode(np.ascontiguousarray(bg).tobytes()).decode("ascii"),
        "background_key": background_key,
    }
    target = json_path(base)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, ensure_ascii=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)  # the switch: readers now see the new version
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        if faiss_name:
            (directory / faiss_name).unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    _remove_old_versions(base, keep=faiss_name)
    summary = {k: v for k, v in meta.items() if k not in ("chunks", "background", "background_key")}
    summary["path"] = str(target)
    return summary


def _remove_old_versions(base: Path, *, keep: str) -> None:
    """Delete the .faiss files of earlier versions (and stale temporaries); a reader mid-load retries."""
    now = time.time()
    for candidate in base.parent.glob(f"{base.name}.*.faiss"):
        if candidate.name != keep:
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
    for stale in base.parent.glob(f".{base.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > 3600:  # a crashed writer's leftovers, never a live one's
                stale.unlink()


# --------------------------------------------------------------------------- reading


def read_metadata(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The current JSON (parsed), or None when there is no store yet."""
    try:
        with open(json_path(path), encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _load(base: Path, meta: dict[str, Any]) -> Store:
    import faiss

    embedder = meta.get("embedder") or {}
    dim = int(embedder.get("dim") or 0)
    chunks = tuple(ChunkMeta.from_json(c) for c in meta.get("chunks") or ())
    index = None
    if meta.get("faiss"):
        # np.fromfile raises FileNotFoundError when a newer version already replaced this one (the caller retries);
        # faiss.read_index would raise a bare RuntimeError.
        index = faiss.deserialize_index(np.fromfile(base.parent / meta["faiss"], dtype=np.uint8))
        if index.ntotal != len(chunks) or (dim and index.d != dim):
            raise ValueError(f"store {meta.get('version')}: {index.ntotal}x{index.d} vectors for {len(chunks)} chunks")
    raw = base64.b64decode(meta.get("background") or "")
    background = np.frombuffer(raw, dtype=np.float32).reshape(-1, dim) if raw and dim else np.zeros((0, dim), "f4")
    return Store(
        version=str(meta.get("version") or ""),
        embedder=str(embedder.get("name") or ""),
        dim=dim,
        chunks=chunks,
        index=index,
        background=background,
        created_at=str(meta.get("created_at") or ""),
        catalogs=tuple(meta.get("catalogs") or ()),
        background_key=str(meta.get("background_key") or ""),
    )


class StoreReader:
    """Keeps the current version of one store loaded; :meth:`current` costs one os.stat when nothing changed."""

    retries = 5

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.base = store_base(path)
        self._json = json_path(self.base)
        self._store: Store | None = None
        self._key: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def current(self) -> Store | None:
        key = _stat_key(self._json)
        if key is not None and key == self._key:
            return self._store
        with self._lock:
            for attempt in range(self.retries):
                key = _stat_key(self._json)
                if key is None:
                    self._store, self._key = None, None
                    return None
                if key == self._key:
                    return self._store
                try:
                    with open(self._json, encoding="utf-8") as fh:
                        meta = json.load(fh)
                    if self._store is not None and meta.get("version") == self._store.version:
                        self._key = key  # touched, not replaced
                        return self._store
                    store = _load(self.base, meta)
                except (FileNotFoundError, json.JSONDecodeError) as exc:
                    # The JSON we read named a .faiss a newer writer has already removed: read again.
                    logger.debug("Vector store changed while loading (%s); retrying", exc)
                    time.sleep(0.01 * (attempt + 1))
                    continue
                if self._store is not None:
                    logger.info("Vector store %s: version %s -> %s", self.base, self._store.version, store.version)
                self._store, self._key = store, key
                return store
        raise RuntimeError(f"vector store {self.base} kept changing while loading")


_readers: dict[str, StoreReader] = {}
_readers_lock = threading.Lock()


def load_current(path: str | os.PathLike[str] | None = None) -> Store | None:
    """This process's current store for ``path`` (default settings.AI_VECTOR_STORE_PATH); None if none is written."""
    key = str(store_base(path))
    reader = _readers.get(key)
    if reader is None:
        with _readers_lock:
            reader = _readers.setdefault(key, StoreReader(key))
    return reader.current()
