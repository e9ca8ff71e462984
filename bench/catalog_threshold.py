"""Calibrate the catalog AI's relevance threshold: fact rate and fallbacks at each candidate min_score.

    .venv/bin/python bench/catalog_threshold.py [--online] [--thresholds 0.2,0.25,...] [--json out.json]

On the evaluation catalog and questions of bench/catalog_quality.py (the same throw-away ingested
state, offline by default; --online keeps OPENAI_API_KEY / OPENAI_BASE_URL / AI_EMBED_MODEL), it
answers every question once per candidate threshold (AISettings.min_score set to it, no cache) and
prints, for each: the share of answerable questions whose answer has the asked fact, the false
fallbacks, and the fallback rate on the unanswerable ones (all, and the off-topic ones alone).
catalog_ai.retrieval.DEFAULT_MIN_SCORES holds the value chosen for each embedder: the lowest
threshold at which every off-topic question gets the fallback, unless a higher one costs no
answerable question (the answer's own word check, not the threshold, keeps most plausible
store questions the catalog cannot answer out).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import catalog_quality as cq  # noqa: E402

OFF_TOPIC_FROM = "unanswerable-023"  # questions.json lists the 9 off-topic questions last (023-031)


def sweep(questions: list[dict[str, Any]], thresholds: list[float]) -> list[dict[str, Any]]:
    from bench.catalog_eval.facts import fact_in
    from catalog_ai.answerer import answer_question
    from catalog_ai.models import AISettings

    rows = []
    for threshold in thresholds:
        ai = AISettings.load()
        ai.min_score = threshold
        ai.save()
        fact = false_fb = unans_fb = off_fb = n_off = 0
        answerable = [q for q in questions if q["answerable"]]
        for q in questions:
            answer = answer_question(q["text"], use_cache=False, log=False)
            if q["answerable"]:
                fact += all(fact_in(f, answer.answer) for f in q["expected_facts"])
                false_fb += answer.is_fallback
            else:
                unans_fb += answer.is_fallback
                if q["id"] >= OFF_TOPIC_FROM:
                    n_off += 1
                    off_fb += answer.is_fallback
        n_un = len(questions) - len(answerable)
        rows.append(
            {
                "threshold": threshold,
                "fact": round(fact / len(answerable), 3),
                "false_fallback": round(false_fb / len(answerable), 3),
                "unanswerable_fallback": round(unans_fb / max(n_un, 1), 3),
                "off_topic_fallback": round(off_fb / max(n_off, 1), 3),
            }
        )
        print(
            f"min_score {threshold:4.2f}: fact {rows[-1]['fact']:.3f}  false fallback {rows[-1]['false_fallback']:.3f}"
            f"  unanswerable -> fallback {rows[-1]['unanswerable_fallback']:.3f}"
            f"  (off-topic {rows[-1]['off_topic_fallback']:.3f})",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--online", action="store_true")
    parser.add_argument("--thresholds", default="0.15,0.2,0.25,0.3,0.35,0.4,0.5")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    _info, redis_proc = cq.prepare(online=args.online, fresh=False, say=lambda m: print("==", m, flush=True))
    try:
        from catalog_ai.retrieval import search_explained

        embedder = search_explained("precio").embedder
        print(f"embedder of the search: {embedder}")
        rows = sweep(cq.load_questions(None), [float(t) for t in args.thresholds.split(",")])
        if args.json_path:
            Path(args.json_path).write_text(json.dumps({"embedder": embedder, "rows": rows}, indent=2))
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
