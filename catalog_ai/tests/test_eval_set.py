"""The evaluation set of bench/catalog_quality.py (bench/catalog_eval/): schema, facts on their pages, checks.

Pure: the generator's page data, not the PDF (except the last test, which rebuilds the PDF in memory to
prove the committed file is the generator's output).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench.catalog_eval import make_catalog, make_questions
from bench.catalog_eval.checks import answer_language, foreign_labels, holes, numbers_uncited
from bench.catalog_eval.facts import fact_in, normalize, word_overlap


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return json.loads(make_questions.QUESTIONS_PATH.read_text(encoding="utf-8"))


def test_questions_file_is_the_generators_output(questions: list[dict]) -> None:
    assert questions == make_questions.build(), "run .venv/bin/python bench/catalog_eval/make_questions.py"


def test_every_expected_fact_is_on_an_expected_page(questions: list[dict]) -> None:
    assert make_questions.check(questions) == []


def test_the_check_catches_a_wrong_fact_or_page(questions: list[dict]) -> None:
    broken = json.loads(json.dumps(questions))
    price = next(q for q in broken if q["kind"] == "price")
    price["expected_facts"] = ["$999.999"]
    policy = next(q for q in broken if q["kind"] == "policy" and q["expected_pages"] == [19])
    policy["expected_pages"] = [2]
    unanswerable = next(q for q in broken if not q["answerable"])
    unanswerable["expected_facts"] = ["$15.000"]
    problems = make_questions.check(broken)
    assert any(price["id"] in p and "$999.999" in p for p in problems)
    assert any(policy["id"] in p and "none of pages [2]" in p for p in problems)
    assert any(unanswerable["id"] in p for p in problems)


def test_schema_and_coverage(questions: list[dict]) -> None:
    assert len(questions) >= 220
    kinds = Counter(q["kind"] for q in questions)
    assert set(kinds) == set(make_questions.KINDS)
    assert kinds["unanswerable"] >= 25
    assert min(kinds.values()) >= 20
    assert sum(q["lang"] == "en" for q in questions) >= 30
    assert len({q["id"] for q in questions}) == len(questions)
    for q in questions:
        assert isinstance(q["text"], str) and q["text"].strip()
        assert isinstance(q["expected_pages"], list) and isinstance(q["expected_facts"], list)
        assert all(isinstance(p, int) for p in q["expected_pages"])
        assert all(isinstance(f, str) and f.strip() for f in q["expected_facts"])
        assert q["answerable"] is (q["kind"] != "unanswerable")
    scanned = set(make_catalog.SCANNED_PAGES)
    assert sum(bool(set(q["expected_pages"]) & scanned) for q in questions) >= 30


def test_a_third_of_the_questions_share_few_words_with_their_page(questions: list[dict]) -> None:
    answerable = [q for q in questions if q["answerable"]]
    low = [
        q
        for q in answerable
        if max(word_overlap(q["text"], make_catalog.page_text(p)) for p in q["expected_pages"]) < 0.5
    ]
    assert len(low) >= len(answerable) / 3 - 5  # about a third


def test_catalog_data() -> None:
    assert make_catalog.check_pages() == []
    assert 20 <= len(make_catalog.PAGES) <= 25
    assert len(make_catalog.SCANNED_PAGES) >= 5
    assert 60 <= len(make_catalog.PRODUCTS) <= 95
    refs = [p.ref for p in make_catalog.PRODUCTS.values()]
    assert any(r.isdigit() for r in refs) and any("-" in r for r in refs)  # several reference styles
    # Near-duplicates: one line in several sizes/finishes, each with its own price and reference.
    basins = [p for p in make_catalog.PRODUCTS.values() if p.name == "Monocontrol lavamanos bajo"]
    assert len(basins) == 3 and len({p.price for p in basins}) == 3


@pytest.mark.parametrize(
    "fact, text, found",
    [
        ("$1.250.000", "cuesta $ 1,250,000 con IVA", True),
        ("$1.250.000", "Precio $1250000.", True),
        ("$1.250.000", "Precio $1.250.001", False),
        ("1,5 m", "manguera de 1,5 m", True),
        ("1,5 m", "manguera de 15 m", False),
        ("5 días hábiles", "llega en 5 DIAS  habiles", True),
        ("8:00 a. m.", "abrimos a las 8:00 am", True),
        ("3 a 5 días hábiles || 3 to 5 business days", "It arrives in 3 to 5 business days.", True),
        ("35 m²", "rinde 35 m2", True),
    ],
)
def test_fact_normalisation(fact: str, text: str, found: bool) -> None:
    assert fact_in(fact, text) is found


def test_answer_checks_flag_the_issue_examples() -> None:
    bad_shipping = (
        "Enviamos a Medellín, Cali, Bucaramanga y Barranquilla por transportadora con un costo de por mesón "
        "— Price $180.000."
    )
    bad_granite = (
        "Granito Negro San Gabriel. por metro cuadrado: . Espesor 2 cm. Ideal — Ref. GR-001 — Precio $450.000."
    )
    assert foreign_labels(bad_shipping, "es") == ["Price"]
    assert "de por" in holes(bad_shipping)
    assert any(h.startswith(":") for h in holes(bad_granite))
    assert holes("Sede norte: Avenida Calle 145 #.") == ["#."]
    assert holes("Griferías: 5 años en el. Garantía.") == ["el."]
    assert holes("entregamos con vehículo — Price $15.000. Envíos y entregas. propio: el envío") == ["entregas. propio"]
    assert holes("Los pedidos confirmados antes de las 12:00 m. salen el mismo día.") == []
    good = (
        "El envío a Medellín cuesta $35.000 por caja y llega en 3 a 5 días hábiles "
        "(de 7:00 a. m. a 6:00 p. m.; sábados)."
    )
    assert holes(good) == [] and foreign_labels(good, "es") == []
    assert foreign_labels("The shower costs $89.900. Precio: $89.900", "en") == ["Precio"]
    assert foreign_labels("The Grifería Sensa costs $689.000.", "en") == []


def test_no_catalog_page_reads_as_a_hole() -> None:
    """The hole check does not flag the catalog's own sentences (so a flagged answer was cut, not quoted)."""
    for page in make_catalog.PAGES:
        for line in page.lines:
            assert holes(line) == [], (page.number, line)
        assert holes(" ".join(page.lines)) == [], page.number


def test_numbers_and_language() -> None:
    chunk = "Ducha eléctrica Termo 3 temperaturas. Cód. DU-110 — $89.900. 120 V, 4.500 W."
    assert numbers_uncited("La ducha eléctrica cuesta $89.900 y tiene 3 temperaturas.", [chunk]) == []
    assert numbers_uncited("La ducha cuesta $99.900.", [chunk]) == ["99900"]
    assert numbers_uncited("Son 4500 W.", [chunk]) == []
    assert answer_language("El envío cuesta $15.000 y llega en 1 a 2 días hábiles.") == "es"
    assert answer_language("Delivery in Bogotá costs $15.000 and takes 1 to 2 business days.") == "en"
    assert answer_language("Ref. GC-MON-01 — $289.900") == ""
    page = [
        "Grifería Sensa para cocina\nAbre el agua sola al acercar las manos al sensor infrarrojo y la cierra a los 3 "
        "segundos.\nREF: GC-SEN-05\nPrecio: $689.000"
    ]
    quoted = (
        "From our catalog: Grifería Sensa para cocina. Abre el agua sola al acercar las manos al sensor. "
        "Price: $689.000"
    )
    assert answer_language(quoted, page) == "en"  # the quotes are the catalog's; the answer's own words are English
    assert answer_language("Grifería Sensa para cocina — REF: GC-SEN-05 — Precio: $689.000", page) == "es"
    assert normalize("Grifería  MONOCONTROL") == "griferia monocontrol"


def test_committed_pdf_is_the_generators_output() -> None:
    """Page by page, decoded (so another zlib's compression does not matter)."""
    committed = make_catalog.PDF_PATH.read_bytes()
    assert make_catalog.pdf_fingerprint(make_catalog.build_pdf()) == make_catalog.pdf_fingerprint(committed), (
        "run .venv/bin/python -m bench.catalog_eval.make_catalog"
    )
    assert len(committed) < 2 * 1024 * 1024


def test_benchmark_scoring() -> None:
    """bench/catalog_quality.py's scoring of one question (pure: a result as read_result returns it)."""
    from bench.catalog_quality import aggregate, check_targets, score, threshold_sweep

    question = {
        "id": "price-900",
        "kind": "price",
        "lang": "es",
        "text": "¿Cuánto cuesta la ducha eléctrica?",
        "answerable": True,
        "expected_pages": [4],
        "expected_facts": ["$89.900"],
    }
    chunks = {
        4: ["Ducha eléctrica Termo 3 temperaturas — Cód. DU-110 — $89.900", "Ducha teléfono — Cód. DU-310 — $64.900"],
        20: ["Instalación $70.000"],
    }

    def result(answer: str, hit_pages: list[int], ref_pages: list[int], fallback: bool = False) -> dict:
        hits = [{"page": p, "score": 0.5, "lexical_rank": 1, "dense_rank": 1, "text": ""} for p in hit_pages]
        backend = "fallback" if fallback else "extractive"
        return {"hits": hits, "answer": answer, "backend": backend, "fallback": fallback, "ref_pages": ref_pages}

    good = score(
        question, result("La ducha eléctrica cuesta $89.900.", [4, 20], [4]), chunks, retrieval_ms=5, answer_ms=9
    )
    assert good["failed"] == [] and good["top1"] and good["top5"] and good["fact"] and good["numbers_cited"]

    second = score(
        question,
        result("La instalación cuesta $70.000 — Price $89.900", [20, 4], [20]),
        chunks,
        retrieval_ms=5,
        answer_ms=9,
    )
    assert set(second["failed"]) == {"top1", "numbers_cited", "labels_ok"}
    assert second["top5"] and second["fact"] and second["uncited_numbers"] == ["89900"]

    wrong = score(question, result("La ducha teléfono cuesta $64.900.", [4], [4]), chunks, retrieval_ms=5, answer_ms=9)
    assert set(wrong["failed"]) == {"fact", "wrong_price"}  # a price of another product: the worst answer
    assert good["wrong_price"] is False and second["wrong_price"] is False

    missed = score(question, result("No encontré eso.", [20], [], fallback=True), chunks, retrieval_ms=5, answer_ms=9)
    assert set(missed["failed"]) == {"top1", "top5", "fact", "false_fallback"}
    assert missed["numbers_cited"] is None  # a fallback cites nothing and is not counted

    off_topic = {**question, "id": "unanswerable-900", "kind": "unanswerable", "answerable": False}
    off_topic.update(expected_pages=[], expected_facts=[], text="¿Quién ganó el partido?")
    declined = score(
        off_topic, result("No encontré eso.", [20], [], fallback=True), chunks, retrieval_ms=5, answer_ms=9
    )
    assert declined["failed"] == [] and declined["fallback_unanswerable"]

    summary = aggregate([good, second, missed, declined])
    assert summary["top5"] == 0.6667 and summary["top1"] == 0.3333 and summary["fallback_unanswerable"] == 1.0
    assert summary["numbers_cited_count"] == [1, 2]
    targets = {t["key"]: t["pass"] for t in check_targets(summary, online=False)}
    assert targets["fallback_unanswerable"] and not targets["top5"] and targets["answer_p95_ms"]
    assert "answer_p95_ms" not in {t["key"] for t in check_targets(summary, online=True)}

    sweep = {row["threshold"]: row for row in threshold_sweep([good, second, missed, declined], steps=4)}
    assert sweep[0.0]["answerable_pass"] == 1.0 and sweep[0.0]["unanswerable_fallback"] == 0.0
    assert sweep[0.75]["answerable_pass"] == 0.0 and sweep[0.75]["unanswerable_fallback"] == 1.0
    assert sweep[0.5]["answerable_pass_right_page"] == 0.3333  # scores are 0.5: only `good` has page 4 first


def test_benchmark_compare() -> None:
    from bench.catalog_quality import compare

    base = {
        "summary": {"all": {"top1": 0.5, "fact": 0.25}},
        "records": [{"id": "a", "failed": ["fact"]}, {"id": "b", "failed": []}, {"id": "c", "failed": ["top1"]}],
    }
    table = {"all": {"top1": 0.5, "fact": 0.75}}
    records = [{"id": "a", "failed": []}, {"id": "b", "failed": ["holes_ok"]}, {"id": "c", "failed": ["top1"]}]
    text = compare(base, table, records)
    assert "fact 0.250->0.750" in text and "top1" not in text.splitlines()[1]
    assert "fixed on 1 questions: a (-fact)" in text
    assert "broken on 1 questions: b (+holes_ok)" in text
