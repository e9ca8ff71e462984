"""Re-indexing cost: adding a small catalog beside a big one, with the offline embedder.

    .venv/bin/python bench/index_incremental.py [--big 600] [--small 20] [--repeat 3] [--json out.json]

A throwaway SQLite database and vector store under a temporary directory (nothing of var/ is touched; no
Redis is needed: without one, the rebuild takes its file lock). It creates a "big" catalog of ``--big``
product chunks and indexes it, then, ``--repeat`` times: adds a "small" catalog of ``--small`` chunks and
times ``index_rebuild()``, then deletes it again (timing that rebuild too), and prints the median of each
beside the time of a full rebuild of the same chunks from scratch (an empty store, so every chunk is
embedded: what every rebuild cost before re-indexing became incremental), with the number of texts the
embedder was asked for each time (the chunks' texts, plus the 24 background sentences when they are embedded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MATERIALS = ("granito negro", "cuarzo blanco", "mármol travertino", "porcelanato gris", "acero inoxidable")
THINGS = ("Mesón", "Lavaplatos", "Grifería monocontrol", "Campana extractora", "Isla de cocina", "Salpicadero")


def chunk_text(n: int, prefix: str) -> str:
    thing, material = THINGS[n % len(THINGS)], MATERIALS[(n // len(THINGS)) % len(MATERIALS)]
    return (
        f"{thing} en {material}, modelo {prefix}{n}, {120 + n % 90} x 60 cm, espesor {2 + n % 3} cm. "
        f"REF {prefix}-{n:04d}. Precio ${(n * 7919) % 2_000_000 + 150_000:,}. Garantía de {1 + n % 10} años; "
        "entrega en 15 días hábiles e instalación incluida en la ciudad."
    ).replace(",", ".")


class Counting:
    """The real offline embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.texts = inner, inner.name, 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Any) -> Any:
        self.texts += len(texts)
        return self.inner.embed(texts)

    def embed_query(self, texts: Any) -> Any:
        return self.inner.embed_query(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", type=int, default=600)
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'db.sqlite3'}"
    os.environ["AI_VECTOR_STORE_PATH"] = str(work / "catalog_index")
    os.environ["OPENAI_API_KEY"] = ""
    os.environ["REDIS_URL"] = f"unix://{work / 'no-redis.sock'}"  # unreachable: the file lock stands in
    os.environ["DJANGO_SETTINGS_MODULE"] = "whatsapp_ia.settings.base"
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.conf import settings
    from django.core.management import call_command

    settings.AI_VECTOR_STORE_PATH = str(work / "catalog_index")
    call_command("migrate", verbosity=0)

    from catalog_ai.embedders import get_embedder
    from catalog_ai.index import index_rebuild
    from catalog_ai.models import Catalog, CatalogChunk, CatalogPage, CatalogStatus

    def catalog_make(name: str, n: int, prefix: str) -> Catalog:
        catalog = Catalog.objects.create(
            name=name, file=f"catalogs/{name}.pdf", sha256=f"{name:0>64}"[:64], status=CatalogStatus.READY
        )
        for start in range(0, n, 5):
            page = CatalogPage.objects.create(catalog=catalog, number=start // 5 + 1, text="")
            CatalogChunk.objects.bulk_create(
                CatalogChunk(catalog=catalog, page=page, position=i, text=chunk_text(start + i, prefix))
                for i in range(min(5, n - start))
            )
        return catalog

    embedder = Counting(get_embedder())
    embedder.embed(["calentamiento"])  # load the model outside the timings

    def timed(label: str) -> dict[str, Any]:
        embedder.texts = 0
        started = time.perf_counter()
        info = index_rebuild(embedder=embedder)
        return {**info, "label": label, "seconds": time.perf_counter() - started, "embedded": embedder.texts}

    catalog_make("grande", args.big, "BIG")
    first = timed("first build (empty store)")
    adds, removes = [], []
    for _ in range(args.repeat):
        small = catalog_make("pequeno", args.small, "SM")
        adds.append(timed("add the small catalog"))
        small.delete()
        removes.append(timed("delete the small catalog"))
    small = catalog_make("pequeno", args.small, "SM")
    full = []
    for _ in range(args.repeat):
        for stale in Path(work).glob("catalog_index*"):
            stale.unlink()
        full.append(timed("full rebuild of both (empty store)"))

    def row(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "label": runs[0]["label"],
            "median_s": round(statistics.median(r["seconds"] for r in runs), 3),
            "runs_s": [round(r["seconds"], 3) for r in runs],
            "texts_embedded": runs[-1]["embedded"],
            "chunks_indexed": runs[-1]["chunks"],
        }

    rows = [row([first]), row(adds), row(removes), row(full)]
    print(f"embedder {embedder.name}; big catalog {args.big} chunks, small catalog {args.small} chunks")
    print(f"{'step':<40} {'median s':>9} {'embedded':>9} {'indexed':>8}  runs")
    for r in rows:
        label, median, runs = r["label"], r["median_s"], r["runs_s"]
        print(f"{label:<40} {median:>9.3f} {r['texts_embedded']:>9} {r['chunks_indexed']:>8}  {runs}")
    if args.json:
        Path(args.json).write_text(json.dumps({"big": args.big, "small": args.small, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
