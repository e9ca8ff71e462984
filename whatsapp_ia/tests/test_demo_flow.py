"""The demo flow leads somewhere from every option it offers, and shows the AI hand-off on its sample catalog.

The walk drives the real pipeline through the bot simulator (as `manage.py simulate_chat`
does): from the greeting it taps every button and list row it is offered, types the row's
number after every list (as a customer on WhatsApp would), types measures in the quote
steps, answers the visit question both ways and asks the AI about a product. No reply may
be the fallback text or a step's "try again" answer (a ``*`` rule that keeps the chat where
it is).
"""

from __future__ import annotations

import io
from collections import deque
from typing import Any

import pytest

from catalog_ai.models import AISettings, Catalog, CatalogStatus
from flows.engine import DEFAULT_FALLBACK_TEXT
from flows.models import Rule
from flows.simulator import SimTurn, simulate
from flows.tests import factories
from whatsapp_ia.demo import (
    AI_HANDOFF_STEP,
    DEMO_AI_QUESTIONS,
    DEMO_CATALOG_NAME,
    DEMO_CATALOG_PDF,
    DEMO_MATERIALS,
    demo_ai_load,
    demo_flow_load,
)
from whatsapp_ia.demo_data import build_demo_catalog

pytestmark = pytest.mark.django_db

# What a customer types where the bot asks for text instead of offering options.
TYPED = {
    "medidas": ["2,4 x 0,6 m", "no sé las medidas"],
    "visita": ["si", "no"],
    AI_HANDOFF_STEP: ["¿cuánto cuesta el mesón de cuarzo blanco polar?"],
}


@pytest.fixture
def demo(settings: Any, tmp_path: Any, redis_client: Any) -> None:
    from catalog_ai.embedders import reset_embedder_cache

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    reset_embedder_cache()
    demo_flow_load()
    factories.default_commands()
    demo_ai_load()


def retry_texts() -> set[str]:
    """The fallback and every "try again" answer: a step's * rule that keeps the chat in that step."""
    texts = {DEFAULT_FALLBACK_TEXT}
    for rule in Rule.objects.filter(active=True, input_text="*"):
        if rule.next_step in ("", rule.step):
            texts.add(rule.response_text)
    return texts


def typed_inputs(step: str) -> list[str]:
    for prefix, texts in TYPED.items():
        if step == prefix or step.startswith(prefix + "_"):
            return texts
    return []


def offer_of(turn: SimTurn) -> Any:
    return next((reply for reply in reversed(turn.replies) if reply.choices), None)


def test_the_sample_catalog_is_ingested_offline_and_the_ai_is_on(demo: None) -> None:
    catalog = Catalog.objects.get()
    assert catalog.status == CatalogStatus.READY
    assert catalog.pages_total == 5 and catalog.summary["ocr_pages"] == 0
    assert {"GR-NEG-SG", "CZ-BL-PO", "MA-CR-MA"} <= set(catalog.summary["sku_examples"])
    assert catalog.pages.exclude(image="").count() == 5  # every page has its image, for the AI's answers
    ai = AISettings.load()
    assert (ai.enabled, ai.handoff_step) == (True, AI_HANDOFF_STEP)

    demo_ai_load()  # idempotent: the same file is recognised, not ingested again
    assert Catalog.objects.count() == 1


def test_every_option_of_the_demo_leads_somewhere(demo: None) -> None:
    bad_answers = retry_texts()
    walked: list[list[str]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    queue: deque[list[str]] = deque([["hola"]])
    while queue:
        path = queue.popleft()
        turns = simulate(number=f"57300{len(walked):07d}", texts=path, reset=True)
        walked.append(path)
        for turn in turns:
            said = [reply.text for reply in turn.replies]
            assert not bad_answers & set(said), f"{' → '.join(path)}: {turn.input!r} got {said}"
            assert said or turn.bot_paused, f"{' → '.join(path)}: {turn.input!r} got no answer"
        last = turns[-1]
        if last.bot_paused:
            continue  # a human has the chat now: the bot is silent by design
        offer = offer_of(last)
        options = tuple(choice.title for choice in offer.choices) if offer else ()
        if (last.step, options) in seen:
            continue
        seen.add((last.step, options))
        if offer is None:
            queue.extend([*path, text] for text in typed_inputs(last.step))
            continue
        for number, _choice in enumerate(offer.choices, start=1):
            queue.append([*path, str(number)])  # a tap on the option
            if offer.type == "list":
                queue.append([*path, "\\" + str(number)])  # the row's number typed as text

    steps = {step for step, _options in seen}
    assert {"menu", "catalogo", "producto_granito", "producto_cuarzo", "producto_marmol", "medidas"} <= steps
    assert {"medidas_granito", "medidas_cuarzo", "medidas_marmol", "visita", AI_HANDOFF_STEP} <= steps
    assert len(walked) >= 30


def test_a_number_typed_after_the_catalog_list_picks_that_row_like_a_tap(demo: None) -> None:
    tapped = simulate(number="573001110001", texts=["hola", "2", "2"], reset=True)[-1]
    typed = simulate(number="573001110002", texts=["hola", "2", "\\2"], reset=True)[-1]

    assert tapped.step == typed.step == "producto_cuarzo"
    assert tapped.replies[0].text == typed.replies[0].text
    assert tapped.replies[0].text.startswith("Cuarzo Blanco Polar: $610.000 por m²")


def test_tapping_a_product_of_the_catalog_list_answers_it(demo: None) -> None:
    turn = simulate(number="573001110003", texts=["hola", "Ver catálogo", "Mármol"], reset=True)[-1]

    assert turn.step == "producto_marmol"
    assert turn.replies[0].text.startswith("Mármol Crema Marfil: $560.000 por m²")
    assert [c.title for c in turn.replies[0].choices] == ["Cotizar este", "Ver otro material", "Hablar con asesor"]


def test_the_ai_hand_off_answers_from_the_sample_catalog(demo: None) -> None:
    turns = simulate(
        number="573001110004",
        texts=["hola", "2", "Preguntar al asistente", "¿cuánto cuesta el mesón de cuarzo blanco polar?"],
        reset=True,
    )

    assert turns[2].step == AI_HANDOFF_STEP
    answer = turns[3].replies[0].text
    assert "$610.000" in answer and "CZ-BL-PO" in answer
    assert turns[3].status == "ai"


def test_the_sample_catalog_is_the_one_its_script_builds_and_agrees_with_the_flow() -> None:
    assert DEMO_CATALOG_PDF.read_bytes() == build_demo_catalog.build()  # regenerated after every edit
    text = " ".join(" ".join(p.sentences.split()) for page in build_demo_catalog.PAGES for p in page.products)
    for _slug, title, colour, price, _words in DEMO_MATERIALS:  # the list's prices are the catalog's
        price_text = "$" + f"{price:,}".replace(",", ".")
        assert f"{title.lower()} {colour} cuesta {price_text} por m²" in text


def test_an_older_demo_catalog_gets_the_new_pdf_instead_of_a_second_catalog(
    settings: Any, tmp_path: Any, redis_client: Any
) -> None:
    from catalog_ai.embedders import reset_embedder_cache
    from catalog_ai.ingestion import catalog_create_from_upload, catalog_ingest
    from catalog_ai.tests import pdfs

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.AI_VECTOR_STORE_PATH = str(tmp_path / "catalog_index")
    settings.OPENAI_API_KEY = ""
    reset_embedder_cache()
    old_pdf = pdfs.text_pdf([["Mesón granito Negro San Gabriel, precio por m² — REF: GR-NEG-SG — $400.000"]])
    older, _created = catalog_create_from_upload(name=DEMO_CATALOG_NAME, file=io.BytesIO(old_pdf), filename="v1.pdf")
    catalog_ingest(catalog_id=older.pk)

    summary = demo_ai_load()
    catalog = Catalog.objects.get()
    assert catalog.pk == older.pk and catalog.status == CatalogStatus.READY and catalog.pages_total == 5
    assert summary["index_info"]["reused"] == 0 and summary["index_info"]["embedded"] == catalog.chunks.count()
    assert not catalog.chunks.filter(text__contains="$400.000").exists()


def test_the_ai_introduction_offers_questions_the_catalog_answers_with_its_page(demo: None) -> None:
    intro = simulate(number="573001110005", texts=["hola", "2", "4"], reset=True)[-1]
    assert intro.step == AI_HANDOFF_STEP
    assert [c.title for c in intro.replies[0].choices] == list(DEMO_AI_QUESTIONS)
    assert all(len(q) <= 20 for q in DEMO_AI_QUESTIONS)  # WhatsApp's limit for a button title

    answer = simulate(number="573001110005", texts=["1"])[0]  # a tap on "¿Precio del mármol?"
    assert answer.status == "ai" and [r.type for r in answer.replies] == ["text", "image"]
    assert "$560.000" in answer.replies[0].text  # the one marble of the catalog, Crema Marfil
    marble_page = Catalog.objects.get().pages.get(text__contains="Mármol Crema Marfil")
    assert answer.replies[1].text == f"Página {marble_page.number}" and answer.replies[1].media == [marble_page.image]
