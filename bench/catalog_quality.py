"""Catalog AI quality: page recall, facts in answers, fallbacks, answer checks and latency (issue 14).

    bash bench/catalog_quality.sh [--json out.json] [--show-failures] [--kind K[,K]] [--online] [--fresh]
    .venv/bin/python bench/catalog_quality.py ...            # the same, without the wrapper

The evaluation catalog (bench/catalog_eval/catalogo.pdf, 25 pages, 6 scanned) is ingested through the
product's own path (catalog_ai.ingestion.catalog_create_from_upload + catalog_ingest: text layer, OCR of
the scanned pages, chunks, embeddings, index) into a throw-away SQLite database, media dir and vector store
under var/bench-catalog-quality/, with a private Redis. That state is kept between runs, keyed by the PDF's
hash, the catalog_ai code, the AI_* variables and the mode (offline, or online with its model and server);
--fresh rebuilds it.

Then, for each question of bench/catalog_eval/questions.json:
- retrieval only: catalog_ai.retrieval.search(question, k=5), timed;
- the full answer: catalog_ai.answerer.answer_question(question, use_cache=False, log=False), timed.
  Offline (the default) runs with no OpenAI key whatever the environment says; --online keeps
  OPENAI_API_KEY / OPENAI_BASE_URL / AI_EMBED_MODEL / AI_GEN_MODEL as set.

It prints, overall, per kind, per language and for the questions on scanned pages: page recall top-1 and top-5
(a hit's page among the expected pages; answerable questions), fact-in-answer rate (every expected fact in the
answer, normalised; answerable), fallback rate on unanswerable questions and false fallbacks on answerable
ones, the rate of answers whose every number appears in a chunk of the pages they cite, and the answer checks
(no label of the other language, no sentence with a hole where a value was, the answer in the question's
language: the words it adds to what it quotes from the catalog); then p50/p95 times of retrieval alone and of
the full answer, and the issue's targets with PASS/FAIL. Exit status 1 when a target is missed, 2 on a setup
error.

--compare EARLIER.json prints each group's metrics beside an earlier run's and the questions whose checks
changed (fixed or broken). --thresholds prints, for relevance thresholds from 0 to 1 on the best hit's fused
score, the share of answerable questions that would pass it and of unanswerable ones that would get the
fallback (to calibrate AISettings.min_score for each embedder). --show-failures prints each question that
failed a check, with its top hits (page, fused score, lexical and dense ranks) and the answer, so whoever
improves catalog_ai sees what to fix.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.catalog_eval.checks import answer_language, foreign_labels, holes, numbers_uncited  # noqa: E402
from bench.catalog_eval.facts import alternatives, fact_in, normalize  # noqa: E402
from bench.catalog_eval.make_catalog import PDF_PATH, SCANNED_PAGES  # noqa: E402
from bench.catalog_eval.make_questions import QUESTIONS_PATH  # noqa: E402

CACHE_ROOT = ROOT / "var" / "bench-catalog-quality"
K = 5
#: (name, metric key, comparison, threshold, offline only)
TARGETS: tuple[tuple[str, str, str, float, bool], ...] = (
    ("right page in top 5", "top5", ">=", 0.95, False),
    ("right page first", "top1", ">=", 0.85, False),
    ("answer has the asked fact", "fact", ">=", 0.90, False),
    ("every number in a cited chunk", "numbers_cited", ">=", 1.0, False),
    ("unanswerable -> fallback", "fallback_unanswerable", ">=", 0.90, False),
    ("p95 answer time (ms)", "answer_p95_ms", "<", 300.0, True),
    ("answer in the question's language", "language_ok", ">=", 1.0, False),
    ("no label of the other language", "labels_ok", ">=", 1.0, False),
    ("no sentence with a hole", "holes_ok", ">=", 1.0, False),
)


# --------------------------------------------------------------------------- setup


def _code_version() -> str:
    """Hash of what the ingested state depends on: catalog_ai's code (tests excluded), the AI settings module,
    requirements.txt and the AI_* variables of the environment."""
    digest = hashlib.sha256()
    files = sorted(p for p in (ROOT / "catalog_ai").rglob("*.py") if "tests" not in p.relative_to(ROOT).parts)
    files.append(ROOT / "whatsapp_ia" / "settings" / "integrations" / "ai.py")
    files.append(ROOT / "requirements.txt")
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    # AI_* variables change chunks, OCR or embeddings (AI_CHUNK_MAX_CHARS, AI_OCR_DPI...); threads do not.
    for name in sorted(os.environ):
        if name.startswith("AI_") and name != "AI_EMBED_THREADS":
            digest.update(f"{name}={os.environ[name]}".encode())
    return digest.hexdigest()


def _mode_key(online: bool) -> str:
    if not online:
        return "offline"
    parts = [os.environ.get(name, "") for name in ("OPENAI_BASE_URL", "AI_EMBED_MODEL")]
    return "online-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]


def _environment(var_dir: Path, online: bool) -> None:
    """Django's embedded default pointed at `var_dir`: nothing of the developer's environment leaks in."""
    for name in list(os.environ):
        if name.startswith(("DB_", "CELERY_")) or name in (
            "DATABASE_URL",
            "REDIS_URL",
            "MEDIA_ROOT",
            "AI_VECTOR_STORE_PATH",
            "AI_CATALOG_CHECKPOINT_DIR",
            "AI_PAGE_IMAGE_DIR",
            "TEST_DB",
        ):
            del os.environ[name]
    os.environ["WIA_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "whatsapp_ia.settings.base"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if not online:
        os.environ["OPENAI_API_KEY"] = ""  # an empty value wins over a .env file
        os.environ["OPENAI_BASE_URL"] = ""


def _start_redis(var_dir: Path) -> Any:
    from whatsapp_ia import embedded_redis

    return embedded_redis.start(str(var_dir / "redis.sock"), log_path=var_dir / "redis.log")


def _ingest(pdf: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Migrate the throw-away database and ingest the catalog the way an upload is: returns the summary."""
    from django.core.management import call_command

    from catalog_ai.ingestion import catalog_create_from_upload, catalog_ingest
    from catalog_ai.models import CatalogStatus

    say("Migrating the throw-away database")
    call_command("migrate", verbosity=0, interactive=False)
    say(f"Ingesting {pdf.relative_to(ROOT)} (text layer, OCR of the scanned pages, chunks, embeddings, index)")
    started = time.perf_counter()
    with pdf.open("rb") as fh:
        catalog, _created = catalog_create_from_upload(name="Catálogo de evaluación", file=fh, filename=pdf.name)
    summary = catalog_ingest(catalog_id=catalog.pk)
    catalog.refresh_from_db()
    if catalog.status != CatalogStatus.READY:
        raise RuntimeError(f"ingestion failed: {catalog.error or summary}")
    return {**summary, "wall_seconds": round(time.perf_counter() - started, 1)}


def prepare(*, online: bool, fresh: bool, say: Callable[[str], None]) -> tuple[dict[str, Any], Any]:
    """Django set up on the cached (or new) ingested state; returns (ingestion info, Redis process or None)."""
    pdf_hash = hashlib.sha256(PDF_PATH.read_bytes()).hexdigest()
    key = hashlib.sha256(f"{pdf_hash}|{_code_version()}".encode()).hexdigest()[:16]
    var_dir = CACHE_ROOT / f"{_mode_key(online)}-{key}"
    marker = var_dir / "ingested.json"
    if fresh or not marker.exists():
        shutil.rmtree(var_dir, ignore_errors=True)
    for old in CACHE_ROOT.glob(f"{_mode_key(online)}-*"):
        if old != var_dir and old.is_dir() and len(old.name) == len(var_dir.name):
            shutil.rmtree(old, ignore_errors=True)  # the state of an older PDF or catalog_ai version
    var_dir.mkdir(parents=True, exist_ok=True)
    _environment(var_dir, online)
    redis_proc = _start_redis(var_dir)

    import django

    django.setup()
    if marker.exists():
        info = json.loads(marker.read_text())
        info["cached"] = True
        say(f"Using the ingested catalog cached in {var_dir.relative_to(ROOT)} (--fresh to rebuild)")
    else:
        info = _ingest(PDF_PATH, say)
        info["cached"] = False
        marker.write_text(json.dumps(info, ensure_ascii=False, default=str))
    info["state_dir"] = str(var_dir.relative_to(ROOT))
    return info, redis_proc


# --------------------------------------------------------------------------- running the product


def read_result(hits: Iterable[Any], answer: Any) -> dict[str, Any]:
    """Everything the benchmark reads from the product's results (catalog_ai.retrieval.Hit, answerer.Answer).

    The one place to adapt when those APIs change."""
    return {
        "hits": [
            {
                "page": h.page,
                "score": round(float(h.score), 4),
                "lexical_rank": h.lexical_rank,
                "dense_rank": h.dense_rank,
                "lexical": h.lexical,
                "dense": h.dense,
                "text": h.text,
            }
            for h in hits
        ],
        "answer": answer.answer,
        "backend": answer.backend,
        "fallback": bool(answer.is_fallback),
        "ref_pages": [r.page for r in answer.references],
    }


def ocr_report() -> dict[str, Any]:
    """How much of the scanned pages' product data is in the text the ingestion read from them (OCR): so a
    failure on a scanned page can be told apart from a retrieval or answer failure."""
    from bench.catalog_eval.make_catalog import PRODUCTS
    from catalog_ai.models import CatalogPage

    texts = {number: normalize(text) for number, text in CatalogPage.objects.values_list("number", "text")}
    out: dict[str, Any] = {"prices": [0, 0], "references": [0, 0], "missed": []}
    for product in PRODUCTS.values():
        if product.page not in SCANNED_PAGES:
            continue
        text = texts.get(product.page, "")
        for key, value in (("prices", product.price.split()[0]), ("references", product.ref)):
            out[key][1] += 1
            if normalize(value) in text:
                out[key][0] += 1
            else:
                out["missed"].append(f"p{product.page} {value}")
    return out


def _chunks_by_page() -> dict[int, list[str]]:
    from catalog_ai.models import CatalogChunk

    out: dict[int, list[str]] = {}
    for number, text in CatalogChunk.objects.values_list("page__number", "text"):
        out.setdefault(number, []).append(text)
    return out


def run_questions(
    questions: list[dict[str, Any]], say: Callable[[str], None], *, repeat: int = 1
) -> list[dict[str, Any]]:
    """Each question through retrieval alone and the full answer; with ``repeat`` > 1 both are timed that many
    times and the fastest is kept (the first results are scored: the product is deterministic)."""
    from catalog_ai.answerer import answer_question
    from catalog_ai.retrieval import search

    chunks = _chunks_by_page()
    # Warm-up (model load, store load, first queries): not timed.
    for text in ("precio de la grifería", "How much is delivery?"):
        search(text, k=K)
        answer_question(text, use_cache=False, log=False)

    records = []
    for i, q in enumerate(questions, 1):
        times: list[tuple[float, float, float, float]] = []
        for attempt in range(max(1, repeat)):
            t0, c0 = time.perf_counter(), time.process_time()
            found = search(q["text"], k=K)
            t1, c1 = time.perf_counter(), time.process_time()
            said = answer_question(q["text"], use_cache=False, log=False)
            t2, c2 = time.perf_counter(), time.process_time()
            if attempt == 0:
                hits, answer = found, said
            times.append(((t1 - t0) * 1000, (t2 - t1) * 1000, (c1 - c0) * 1000, (c2 - c1) * 1000))
        result = read_result(hits, answer)
        retrieval_ms, answer_ms, retrieval_cpu, answer_cpu = (min(column) for column in zip(*times, strict=True))
        record = score(q, result, chunks, retrieval_ms=retrieval_ms, answer_ms=answer_ms)
        record["retrieval_cpu_ms"] = round(retrieval_cpu, 2)
        record["answer_cpu_ms"] = round(answer_cpu, 2)
        records.append(record)
        if i % 50 == 0:
            say(f"{i}/{len(questions)} questions")
    return records


# --------------------------------------------------------------------------- scoring (pure)


def score(
    q: dict[str, Any], result: dict[str, Any], chunks: dict[int, list[str]], *, retrieval_ms: float, answer_ms: float
) -> dict[str, Any]:
    """One question's record: what was expected, what came back, and every check."""
    expected = set(q["expected_pages"])
    hit_pages = [h["page"] for h in result["hits"]]
    answer = result["answer"] or ""
    fallback = result["fallback"]
    cited = [text for page in dict.fromkeys(result["ref_pages"]) for text in chunks.get(page, [])]
    lang = answer_language(answer, cited)
    record: dict[str, Any] = {
        **{k: q[k] for k in ("id", "kind", "lang", "text", "answerable", "expected_pages", "expected_facts")},
        **result,
        "hit_pages": hit_pages,
        "retrieval_ms": round(retrieval_ms, 2),
        "answer_ms": round(answer_ms, 2),
        "answer_lang": lang,
        "language_ok": lang in ("", q["lang"]),
        "foreign_labels": foreign_labels(answer, q["lang"]),
        "holes": holes(answer),
        "uncited_numbers": [] if fallback else numbers_uncited(answer, cited),
    }
    record["labels_ok"] = not record["foreign_labels"]
    record["holes_ok"] = not record["holes"]
    record["numbers_cited"] = None if fallback else not record["uncited_numbers"]
    if q["answerable"]:
        record["top1"] = bool(hit_pages[:1]) and hit_pages[0] in expected
        record["top5"] = any(p in expected for p in hit_pages[:K])
        record["facts_missing"] = [f for f in q["expected_facts"] if not fact_in(f, answer)]
        record["fact"] = not record["facts_missing"]
        record["false_fallback"] = fallback
        record["wrong_price"] = wrong_price(answer, q["expected_facts"])
    else:
        record["fallback_unanswerable"] = fallback
    record["failed"] = failed_checks(record)
    return record


def failed_checks(record: dict[str, Any]) -> list[str]:
    checks = ("top1", "top5", "fact", "fallback_unanswerable", "numbers_cited", "language_ok", "labels_ok", "holes_ok")
    out = [name for name in checks if record.get(name) is False]
    for name in ("false_fallback", "wrong_price"):
        if record.get(name):
            out.append(name)
    return out


def wrong_price(answer: str, facts: list[str]) -> bool | None:
    """For a question whose facts include a price: True when the answer states prices but not that one (the
    customer is told a wrong price, the worst answer), False otherwise; None when no price is asked."""
    asked = {normalize(alt) for fact in facts for alt in alternatives(fact) if alt.lstrip().startswith("$")}
    asked = {a.split()[0] for a in asked}
    if not asked:
        return None
    said = {m.replace(" ", "") for m in re.findall(r"\$\s?\d[\d.,]*\d|\$\s?\d", normalize(answer))}
    return bool(said) and not (said & asked)


def _rate(records: list[dict[str, Any]], key: str) -> tuple[float | None, int, int]:
    values = [r[key] for r in records if r.get(key) is not None]
    if not values:
        return None, 0, 0
    good = sum(bool(v) for v in values)
    return good / len(values), good, len(values)


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


METRICS = (
    "top1",
    "top5",
    "fact",
    "fallback_unanswerable",
    "false_fallback",
    "wrong_price",
    "numbers_cited",
    "labels_ok",
    "holes_ok",
    "language_ok",
)


def aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(records)}
    for key in METRICS:
        rate, good, total = _rate(records, key)
        out[key] = None if rate is None else round(rate, 4)
        out[f"{key}_count"] = [good, total]
    retrieval = [r["retrieval_ms"] for r in records]
    answers = [r["answer_ms"] for r in records]
    out.update(
        retrieval_p50_ms=round(statistics.median(retrieval), 1) if retrieval else 0.0,
        retrieval_p95_ms=round(_percentile(retrieval, 95), 1),
        answer_p50_ms=round(statistics.median(answers), 1) if answers else 0.0,
        answer_p95_ms=round(_percentile(answers, 95), 1),
        answer_max_ms=round(max(answers), 1) if answers else 0.0,
    )
    for key in ("retrieval_cpu_ms", "answer_cpu_ms"):
        values = [r[key] for r in records if key in r]
        if values:
            out[key.replace("_ms", "_p50_ms")] = round(statistics.median(values), 1)
            out[key.replace("_ms", "_p95_ms")] = round(_percentile(values, 95), 1)
    return out


def groups(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {"all": aggregate(records)}
    for kind in dict.fromkeys(r["kind"] for r in records):
        out[f"kind:{kind}"] = aggregate([r for r in records if r["kind"] == kind])
    for lang in sorted({r["lang"] for r in records}):
        out[f"lang:{lang}"] = aggregate([r for r in records if r["lang"] == lang])
    scanned = [r for r in records if r["expected_pages"] and set(r["expected_pages"]) <= set(SCANNED_PAGES)]
    if scanned:
        out["on scanned pages"] = aggregate(scanned)
    return out


def check_targets(summary: dict[str, Any], *, online: bool) -> list[dict[str, Any]]:
    out = []
    for name, key, op, threshold, offline_only in TARGETS:
        if offline_only and online:
            continue
        value = summary.get(key)
        # No value: nothing to measure in this selection (e.g. --kind price has no unanswerable question).
        ok = True if value is None else value >= threshold if op == ">=" else value < threshold
        out.append({"target": name, "key": key, "op": op, "threshold": threshold, "value": value, "pass": ok})
    return out


def threshold_sweep(records: list[dict[str, Any]], steps: int = 20) -> list[dict[str, float | None]]:
    """For thresholds 0, 1/steps, ... 1 on the best hit's fused score: the share of answerable questions whose best
    hit would pass (and is on an expected page), and of unanswerable ones that would get the fallback."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]

    def best(r: dict[str, Any]) -> float:
        return r["hits"][0]["score"] if r["hits"] else 0.0

    out = []
    for i in range(steps + 1):
        t = i / steps
        kept = [r for r in answerable if best(r) >= t]
        out.append(
            {
                "threshold": round(t, 3),
                "answerable_pass": round(len(kept) / len(answerable), 4) if answerable else None,
                "answerable_pass_right_page": round(sum(bool(r["top1"]) for r in kept) / len(answerable), 4)
                if answerable
                else None,
                "unanswerable_fallback": round(sum(best(r) < t for r in unanswerable) / len(unanswerable), 4)
                if unanswerable
                else None,
            }
        )
    return out


def words_in_code(questions: list[dict[str, Any]]) -> tuple[list[str], int]:
    """Words of the Spanish synonym questions that the catalog never uses ("tinaco", "sopapa", "agarradera")
    and that catalog_ai's own code spells out (its tests excluded): a synonym list grown from this question
    set would flatter the synonym figures, so the benchmark says which of them the code knows."""
    from bench.catalog_eval.facts import content_words
    from bench.catalog_eval.make_catalog import PAGES

    catalog: set[str] = set()
    for page in PAGES:
        catalog |= content_words(page.text)
    words: set[str] = set()
    for q in questions:
        if q["kind"] == "synonym" and q["lang"] == "es":
            words |= content_words(q["text"]) - catalog
    code = " ".join(
        normalize(path.read_text(encoding="utf-8"))
        for path in (ROOT / "catalog_ai").rglob("*.py")
        if "tests" not in path.relative_to(ROOT).parts
    )
    code_words = set(re.findall(r"[a-z0-9ñ]+", code))
    return sorted(words & code_words), len(words)


# --------------------------------------------------------------------------- printing


def format_sweep(sweep: list[dict[str, float | None]], current: float | None) -> str:
    lines = [
        "Relevance threshold on the best hit's score (AISettings.min_score"
        + (f", now {current:g}" if current is not None else "")
        + "):",
        f"  {'threshold':>9} {'answerable pass':>16} {'…right page 1st':>16} {'unanswerable fb':>16}",
    ]
    for row in sweep:
        cells = [
            f"{'-':>16}" if row[key] is None else f"{row[key]:>16.3f}"
            for key in ("answerable_pass", "answerable_pass_right_page", "unanswerable_fallback")
        ]
        lines.append(f"  {row['threshold']:>9.2f} " + " ".join(cells))
    return "\n".join(lines)


_COLUMNS = (
    ("top1", "top1"),
    ("top5", "top5"),
    ("fact", "fact"),
    ("fallback_unanswerable", "unans→fb"),
    ("false_fallback", "false fb"),
    ("wrong_price", "wrong $"),
    ("numbers_cited", "nums"),
    ("labels_ok", "labels"),
    ("holes_ok", "holes"),
    ("language_ok", "lang"),
)


def format_table(table: dict[str, dict[str, Any]]) -> str:
    head = f"{'':<20}{'n':>4}" + "".join(f"{label:>10}" for _key, label in _COLUMNS) + f"{'ret p50':>10}{'ans p95':>10}"
    lines = [head, "-" * len(head)]
    for name, row in table.items():
        cells = []
        for key, _label in _COLUMNS:
            value = row.get(key)
            cells.append(f"{'-':>10}" if value is None else f"{value:>10.3f}")
        lines.append(
            f"{name:<20}{row['n']:>4}"
            + "".join(cells)
            + f"{row['retrieval_p50_ms']:>10.1f}{row['answer_p95_ms']:>10.1f}"
        )
    return "\n".join(lines)


def format_failure(r: dict[str, Any]) -> str:
    lines = [
        f"[{r['id']}] {r['lang']} {r['text']!r}  failed: {', '.join(r['failed'])}",
        f"    expected pages {r['expected_pages']} facts {r['expected_facts']}"
        + (f"  missing {r['facts_missing']}" if r.get("facts_missing") else ""),
    ]
    for h in r["hits"]:
        mark = "*" if h["page"] in r["expected_pages"] else " "
        snippet = " ".join(h["text"].split())[:110]
        lines.append(
            f"   {mark}p{h['page']:<3} {h['score']:.3f} lex#{h['lexical_rank'] or '-'} dense#{h['dense_rank'] or '-'}  "
            f"{snippet}"
        )
    answer = " ".join((r["answer"] or "").split())
    lines.append(f"    answer ({r['backend']}, pages {r['ref_pages']}, {r['answer_ms']:.0f} ms): {answer}")
    extras = []
    if r["uncited_numbers"]:
        extras.append(f"numbers not in a cited chunk: {r['uncited_numbers']}")
    if r["foreign_labels"]:
        extras.append(f"labels of the other language: {r['foreign_labels']}")
    if r["holes"]:
        extras.append(f"holes: {r['holes']}")
    if not r["language_ok"]:
        extras.append(f"answer reads as {r['answer_lang']!r}")
    if extras:
        lines.append("    " + "; ".join(extras))
    return "\n".join(lines)


def compare(base: dict[str, Any], table: dict[str, dict[str, Any]], records: list[dict[str, Any]]) -> str:
    """This run beside an earlier --json file: each group's metrics (earlier -> now) and the questions whose
    checks changed, so a change to catalog_ai shows what it fixed and what it broke."""
    lines = ["Compared with the earlier run (earlier -> now; groups and metrics present in both):"]
    keys = [key for key, _label in _COLUMNS]
    for name, row in table.items():
        old = base.get("summary", {}).get(name)
        if not old:
            continue
        cells = []
        for key in keys:
            a, b = old.get(key), row.get(key)
            if a is None or b is None or f"{a:.3f}" == f"{b:.3f}":
                continue
            cells.append(f"{key} {a:.3f}->{b:.3f}")
        lines.append(f"  {name:<20} " + ("; ".join(cells) if cells else "unchanged"))
    before = {r["id"]: r for r in base.get("records", [])}
    fixed, broken = [], []
    for r in records:
        old = before.get(r["id"])
        if old is None:
            continue
        was, now = set(old.get("failed", [])), set(r["failed"])
        if was - now:
            fixed.append(f"{r['id']} (-{', -'.join(sorted(was - now))})")
        if now - was:
            broken.append(f"{r['id']} (+{', +'.join(sorted(now - was))})")
    lines.append(f"  checks fixed on {len(fixed)} questions: {', '.join(fixed) or '-'}")
    lines.append(f"  checks broken on {len(broken)} questions: {', '.join(broken) or '-'}")
    return "\n".join(lines)


def format_targets(targets: list[dict[str, Any]]) -> str:
    lines = []
    for t in targets:
        value = (
            "n/a" if t["value"] is None else f"{t['value']:.3f}" if t["key"] != "answer_p95_ms" else f"{t['value']:.1f}"
        )
        lines.append(
            f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']:<36} {value:>8}  (target {t['op']} {t['threshold']:g})"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def load_questions(kinds: list[str] | None) -> list[dict[str, Any]]:
    questions = json.loads(QUESTIONS_PATH.read_text(encoding="utf-8"))
    if kinds:
        unknown = set(kinds) - {q["kind"] for q in questions}
        if unknown:
            raise SystemExit(f"unknown kind(s): {', '.join(sorted(unknown))}")
        questions = [q for q in questions if q["kind"] in kinds]
    return questions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="OUT", help="write the summary, targets and every question's record here")
    parser.add_argument("--show-failures", action="store_true", help="print each failed question with hits and answer")
    parser.add_argument("--kind", help="only these kinds (comma-separated), e.g. policy,synonym")
    parser.add_argument("--online", action="store_true", help="use OPENAI_API_KEY / OPENAI_BASE_URL as set")
    parser.add_argument("--fresh", action="store_true", help="ingest the catalog again (ignore the cached state)")
    parser.add_argument(
        "--thresholds", action="store_true", help="print how a relevance threshold would split the questions"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="time each question N times and keep the fastest (steadier on a busy host; scoring is unchanged)",
    )
    parser.add_argument(
        "--compare", metavar="EARLIER_JSON", help="an earlier run's --json: print what changed, question by question"
    )
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"== {message}", file=sys.stderr, flush=True)

    if args.online and not os.environ.get("OPENAI_API_KEY"):
        print("--online needs OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)", file=sys.stderr)
        return 2
    kinds = [k.strip() for k in args.kind.split(",") if k.strip()] if args.kind else None
    questions = load_questions(kinds)

    redis_proc = None
    try:
        try:
            info, redis_proc = prepare(online=args.online, fresh=args.fresh, say=say)
        except Exception as exc:  # a setup error is not a quality result
            print(f"setup failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
            return 2
        load = os.getloadavg()
        say(f"Asking {len(questions)} questions ({'online' if args.online else 'offline'})")
        records = run_questions(questions, say, repeat=args.repeat)
        ocr = ocr_report()
        from catalog_ai.models import AISettings
        from catalog_ai.retrieval import search_explained

        own = AISettings.load().min_score  # empty: the threshold calibrated for the embedder that searches
        min_score = float(own) if own is not None else search_explained("precio").threshold
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)

    table = groups(records)
    targets = check_targets(table["all"], online=args.online)
    if args.show_failures:
        failures = [r for r in records if r["failed"]]
        print(f"\n{len(failures)} questions failed at least one check:\n")
        for r in failures:
            print(format_failure(r) + "\n")
    mode = "online" if args.online else "offline (no OpenAI key)"
    print(
        f"\nCatalog quality, {mode}: {len(records)} questions; catalog {info.get('pages')} pages "
        f"({info.get('ocr_pages')} OCR), {info.get('chunks')} chunks; ingestion "
        f"{info.get('wall_seconds')} s{' (cached)' if info.get('cached') else ''}\n"
    )
    print(format_table(table))
    print(
        f"\nOCR of the scanned pages ({', '.join(map(str, SCANNED_PAGES))}): {ocr['prices'][0]}/{ocr['prices'][1]} "
        f"product prices and {ocr['references'][0]}/{ocr['references'][1]} references read as printed"
        + (f"; missed: {', '.join(ocr['missed'])}" if ocr["missed"] else "")
    )
    a = table["all"]
    print(
        f"\nTimes: retrieval only p50 {a['retrieval_p50_ms']:.1f} ms, p95 {a['retrieval_p95_ms']:.1f} ms; "
        f"full answer p50 {a['answer_p50_ms']:.1f} ms, p95 {a['answer_p95_ms']:.1f} ms, max {a['answer_max_ms']:.1f} ms"
    )
    if "answer_cpu_p95_ms" in a:
        print(
            f"CPU time of this process: retrieval p50 {a['retrieval_cpu_p50_ms']:.1f} ms, p95 "
            f"{a['retrieval_cpu_p95_ms']:.1f} ms; answer p50 {a['answer_cpu_p50_ms']:.1f} ms, p95 "
            f"{a['answer_cpu_p95_ms']:.1f} ms (load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after: "
            "wall times on a busy host run long)"
        )
    known, total = words_in_code(questions)
    if total:
        print(
            f"\n{len(known)} of the {total} words of the Spanish synonym questions that the catalog never uses are "
            f"spelt out in catalog_ai's code: {', '.join(known) or '-'}"
        )
    sweep = threshold_sweep(records)
    if args.thresholds:
        print("\n" + format_sweep(sweep, min_score))
    if args.compare:
        print("\n" + compare(json.loads(Path(args.compare).read_text(encoding="utf-8")), table, records))
    print("\nTargets (issue 14):")
    print(format_targets(targets))
    if args.json:
        payload = {
            "mode": "online" if args.online else "offline",
            "questions_file": str(QUESTIONS_PATH.relative_to(ROOT)),
            "catalog": str(PDF_PATH.relative_to(ROOT)),
            "ingestion": info,
            "summary": table,
            "targets": targets,
            "min_score": min_score,
            "threshold_sweep": sweep,
            "ocr": ocr,
            "question_words_in_code": known,
            "records": records,
        }
        Path(args.json).write_text(json.dumps(payload, ensure_ascii=False, indent=1, default=str) + "\n")
        say(f"Wrote {args.json}")
    return 0 if all(t["pass"] for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
