"""Rules that also match the description of a photo (Rule.match_image_description, opt-in per rule).

The engine (pure), the service that feeds it a stored message, the pipeline end to end, the admin
form, the Excel column and the flow diagram.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
from django.test import Client

from accounts.models import User
from conversations.models import Conversation, Message
from conversations.services.processing import conversation_process
from conversations.tests.conftest import laura_conversation
from flows.diagram import IMAGE_DESCRIPTION_MARK, flow_graph
from flows.engine import Incoming, RuleData, State, decide, match_rule
from flows.excel import COLUMNS, canonical_column, rules_export, rules_import
from flows.handlers import HandlerResult
from flows.models import Rule
from flows.rules_cache import rules_and_commands
from flows.services import incoming_from
from flows.tests import factories
from flows.tests.test_excel import xlsx

FALLBACK = "No te entendí."
RECEIPT = "Recibo de pago — Bancolombia. TRANSACCIÓN EXITOSA. Total: $50.000. Referencia 2,4"


def rule(rule_id: int, input_text: str, *, image: bool = False, step: str = "menu", **fields: Any) -> RuleData:
    return factories.rule_data(
        id=rule_id,
        step=step,
        input_text=input_text,
        match_image_description=image,
        **{"response_text": f"r{rule_id}", **fields},
    )


def answer(rules: list[RuleData], incoming: Incoming, *, step: str = "menu", **registries: Any) -> Any:
    state = State(step=step, initial_step="inicio", fallback_text=FALLBACK)
    return decide(rules=rules, commands=factories.default_command_data(), incoming=incoming, state=state, **registries)


def replies(decision: Any) -> list[str]:
    return [reply.text for reply in decision.replies]


DEFAULT = rule(9, "*", response_text="Elige una opción")


# --- the engine ------------------------------------------------------------------------------


def test_a_rule_that_opted_in_matches_a_word_of_the_description() -> None:
    rules = [rule(1, "recibo, comprobante", image=True, next_step="pagos"), DEFAULT]

    decision = answer(rules, Incoming(image_description=RECEIPT))

    assert replies(decision) == ["r1"]
    assert decision.matched_rule_ids == (1,)
    assert decision.next_step == "pagos"
    assert not decision.unmatched


def test_a_rule_that_did_not_opt_in_never_sees_the_description() -> None:
    rules = [rule(1, "recibo, comprobante"), DEFAULT]

    decision = answer(rules, Incoming(image_description=RECEIPT))

    assert decision.matched_rule_ids == (9,)  # as today for a photo without caption: the step's * rule
    assert replies(decision) == ["Elige una opción"]


def test_a_photo_no_rule_reads_gets_what_a_photo_without_caption_gets_today() -> None:
    rules = [rule(1, "factura", image=True), rule(2, "recibo")]

    decision = answer(rules, Incoming(image_description=RECEIPT))

    assert decision.unmatched  # no * rule in the step: the fallback text, as for any photo without caption
    assert replies(decision) == [FALLBACK]
    assert answer(rules, Incoming()) == decision


@pytest.mark.parametrize(
    ("keywords", "matches"),
    [
        pytest.param("transaccion exitosa", True, id="accents and case folded"),
        pytest.param("TRANSACCIÓN, pagos", True, id="keyword with accents"),
        pytest.param("total", True, id="next to punctuation"),
        pytest.param("recibos", False, id="whole words only (plural)"),
        pytest.param("exito", False, id="whole words only (inside a word)"),
        pytest.param("2", False, id="a number is whole: not part of 2,4"),
        pytest.param("2.4", True, id="the decimal as a whole"),
    ],
)
def test_the_description_is_matched_as_the_text_is(keywords: str, matches: bool) -> None:
    rules = [rule(1, keywords, image=True)]
    found = match_rule(rules, "menu", Incoming(image_description=RECEIPT))
    assert (found is not None) is matches


@pytest.mark.parametrize(
    ("incoming", "expected_id"),
    [
        pytest.param(Incoming(text="hola", image_description=RECEIPT), 2, id="caption exact beats description"),
        pytest.param(
            Incoming(text="hola, mira esto", image_description="recibo"),
            2,
            id="caption contained beats description exact with lower priority",
        ),
        pytest.param(Incoming(text="recibo", image_description="hola"), 1, id="the flagged rule's own caption"),
        pytest.param(Incoming(interactive_id="hola", image_description=RECEIPT), 2, id="a tap beats description"),
        pytest.param(Incoming(text="una foto", image_description=RECEIPT), 1, id="caption matches nothing"),
    ],
)
def test_what_the_customer_typed_wins_over_what_was_read_in_the_photo(incoming: Incoming, expected_id: int) -> None:
    rules = [rule(1, "recibo", image=True, priority=1), rule(2, "hola", priority=100), DEFAULT]
    assert answer(rules, incoming).matched_rule_ids == (expected_id,)


@pytest.mark.parametrize(
    ("description", "expected_id"),
    [
        pytest.param("Comprobante", 3, id="exact beats contained"),
        pytest.param("comprobante de pago", 1, id="two contained: lower priority"),
        pytest.param("un comprobante", 3, id="one contained"),
    ],
)
def test_description_matches_keep_the_engine_precedence(description: str, expected_id: int) -> None:
    rules = [
        rule(1, "pago", image=True, priority=10),
        rule(3, "comprobante", image=True, priority=50),
        DEFAULT,
    ]
    assert answer(rules, Incoming(image_description=description)).matched_rule_ids == (expected_id,)


def test_other_steps_and_global_commands_never_read_the_description() -> None:
    rules = [rule(1, "recibo", image=True, step="otro"), DEFAULT]

    decision = answer(rules, Incoming(image_description="menu ayuda recibo"))

    assert decision.command is None  # "menu" and "ayuda" are commands when typed, not when seen in a photo
    assert decision.matched_rule_ids == (9,)


def capture_handler(seen: list[str]) -> Any:
    def handler(*, text: str, calculation: str, rule: RuleData) -> HandlerResult:
        seen.append(text)
        return HandlerResult(ok=True, text=f"leído: {text}")

    return handler


def test_an_opted_in_rules_handler_reads_the_description_when_there_is_no_text() -> None:
    seen: list[str] = []
    handlers = {"capture": capture_handler(seen)}
    flagged = [rule(1, "*", image=True, handler="capture", response_text="{result}")]

    assert replies(answer(flagged, Incoming(image_description="2,4 x 0,6"), handlers=handlers)) == ["leído: 2,4 x 0,6"]
    answer(flagged, Incoming(text="mi medida", image_description="2,4 x 0,6"), handlers=handlers)
    answer([rule(1, "*", handler="capture")], Incoming(image_description="2,4 x 0,6"), handlers=handlers)

    assert seen == ["2,4 x 0,6", "mi medida", ""]  # the caption first; a rule that did not opt in reads nothing


# --- the service: a stored message as the engine sees it ------------------------------------


def test_incoming_from_keeps_the_caption_as_text_and_the_description_apart() -> None:
    photo = Message(kind="image", caption="mi pago", image_description=RECEIPT, data={})
    assert incoming_from(photo) == Incoming(text="mi pago", image_description=RECEIPT)

    bare = Message(kind="image", image_description=RECEIPT, data={})
    assert incoming_from(bare) == Incoming(text="", image_description=RECEIPT)


def test_a_voice_note_still_reads_as_typed_text_without_opting_in() -> None:
    voice = Message(kind="audio", transcription="quiero ver el catálogo", data={})
    incoming = incoming_from(voice)
    assert incoming == Incoming(text="quiero ver el catálogo")
    assert match_rule([rule(1, "catalogo")], "menu", incoming) is not None


@pytest.mark.django_db
def test_the_rules_copy_carries_the_flag() -> None:
    flagged = factories.rule(step="menu", input_text="recibo", match_image_description=True)
    plain = factories.rule(step="menu", input_text="hola")

    rules, _commands = rules_and_commands()

    by_id = {r.id: r.match_image_description for r in rules}
    assert by_id == {flagged.pk: True, plain.pk: False}


# --- the pipeline: a stored photo with its description ---------------------------------------


def _inbound_photo(conversation: Conversation, *, description: str, caption: str = "", n: int = 1) -> Message:
    return Message.objects.create(
        conversation=conversation,
        direction="in",
        kind="image",
        caption=caption,
        image_description=description,
        enrichment_state="done",
        provider="meta",
        provider_message_id=f"wamid.PHOTO{n:04d}",
        processing_state="pending",
    )


def _replies(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, direction="out").order_by("id").values_list("text", flat=True)
    )


@pytest.mark.django_db
def test_a_photo_of_a_receipt_is_routed_by_its_description() -> None:
    conversation = laura_conversation()
    receipt_rule = factories.rule(
        step="inicio",
        input_text="recibo, comprobante",
        match_image_description=True,
        response_text="Gracias, revisamos tu pago.",
        next_step="pagos",
    )
    factories.rule(step="inicio", input_text="*", response_text="¡Hola! ¿En qué te ayudo?")
    photo = _inbound_photo(conversation, description=RECEIPT)

    conversation_process(conversation_id=conversation.pk)

    assert _replies(conversation) == ["Gracias, revisamos tu pago."]
    conversation.refresh_from_db()
    photo.refresh_from_db()
    assert conversation.step == "pagos"
    assert photo.data["rules"] == [receipt_rule.pk]


@pytest.mark.django_db
def test_without_the_flag_the_same_photo_gets_the_steps_default() -> None:
    conversation = laura_conversation()
    factories.rule(step="inicio", input_text="recibo", response_text="Gracias, revisamos tu pago.", next_step="pagos")
    factories.rule(step="inicio", input_text="*", response_text="¡Hola! ¿En qué te ayudo?")
    _inbound_photo(conversation, description=RECEIPT)

    conversation_process(conversation_id=conversation.pk)

    assert _replies(conversation) == ["¡Hola! ¿En qué te ayudo?"]
    conversation.refresh_from_db()
    assert conversation.step == "inicio"


# --- the admin form --------------------------------------------------------------------------

ADD_URL = "/admin/flows/rule/add/"


@pytest.fixture
def superuser_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    return client


@pytest.mark.django_db
def test_the_rule_form_shows_the_flag_next_to_the_keywords_and_saves_it(superuser_client: Client) -> None:
    page = superuser_client.get(ADD_URL).content.decode()
    positions = [page.index(f'name="{name}"') for name in ("input_text", "match_image_description", "priority")]
    assert positions == sorted(positions)
    assert "Match image descriptions" in page

    response = superuser_client.post(ADD_URL, factories.rule_form(input_text="recibo", match_image_description="on"))
    assert response.status_code == 302
    assert Rule.objects.get(input_text="recibo").match_image_description is True

    data = factories.rule_form(input_text="hola")
    del data["match_image_description"]  # an unticked checkbox is not posted
    assert superuser_client.post(ADD_URL, data).status_code == 302
    assert Rule.objects.get(input_text="hola").match_image_description is False


@pytest.mark.django_db
def test_the_rules_list_filters_by_the_flag(superuser_client: Client) -> None:
    factories.rule(step="menu", input_text="recibo", match_image_description=True)
    factories.rule(step="menu", input_text="hola")

    page = superuser_client.get("/admin/flows/rule/?match_image_description__exact=1")

    assert page.status_code == 200
    assert [r.input_text for r in page.context["cl"].result_list] == ["recibo"]


# --- Excel -----------------------------------------------------------------------------------


def _sheet_rows(data: bytes) -> list[dict[str, Any]]:
    rows = list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize(
    "header",
    ["match_image_description", "Match image descriptions", "descripcion_imagen", "Descripción imagen"],
)
def test_the_column_and_its_aliases(header: str) -> None:
    assert canonical_column(header) == "match_image_description"


@pytest.mark.django_db
def test_excel_round_trip_of_the_flag() -> None:
    factories.rule(step="inicio", input_text="*", key="saludo")
    factories.rule(step="inicio", input_text="recibo", key="recibo", match_image_description=True)

    data = rules_export()

    assert "match_image_description" in COLUMNS
    rows = {row["key"]: row for row in _sheet_rows(data)}
    assert (rows["recibo"]["match_image_description"], rows["saludo"]["match_image_description"]) == (True, False)
    again = rules_import(file=data)
    assert again.errors == []
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)

    turned_off = rules_import(
        file=xlsx(["key", "step", "input_text", "descripcion_imagen"], [["recibo", "inicio", "recibo", "no"]])
    )
    assert turned_off.errors == [] and turned_off.updated == 1
    assert Rule.objects.get(key="recibo").match_image_description is False


@pytest.mark.django_db
def test_an_old_workbook_without_the_column_still_imports() -> None:
    kept = factories.rule(step="menu", input_text="recibo", key="recibo", match_image_description=True)
    old = ["step", "input_text", "priority", "respuesta", "tipo", "Activo", "clave"]

    report = rules_import(
        file=xlsx(
            old, [["menu", "hola", 1, "Hola", "texto", "sí", ""], ["menu", "recibo", 2, "Gracias", "", 1, "recibo"]]
        )
    )

    assert report.errors == []
    assert (report.created, report.updated) == (1, 1)
    assert Rule.objects.get(input_text="hola").match_image_description is False  # new: off
    kept.refresh_from_db()
    assert (kept.response_text, kept.match_image_description) == ("Gracias", True)  # missing column: kept


@pytest.mark.django_db
@pytest.mark.parametrize(("cell", "expected"), [("sí", True), ("x", True), ("1", True), ("", False), ("No", False)])
def test_the_column_reads_yes_and_no_like_active(cell: str, expected: bool) -> None:
    report = rules_import(file=xlsx(["paso", "entrada", "descripcion_imagen"], [["menu", "recibo", cell]]))
    assert report.errors == []
    assert Rule.objects.get().match_image_description is expected


@pytest.mark.django_db
def test_a_bad_cell_in_the_column_names_its_row_and_column() -> None:
    report = rules_import(file=xlsx(["paso", "entrada", "descripcion_imagen"], [["menu", "recibo", "quizás"]]))
    assert [str(e) for e in report.errors] == [
        "row 2, column descripcion_imagen: 'quizás' is not yes or no; use 1/0, true/false, sí/no, yes/no, or x / empty."
    ]
    assert not Rule.objects.exists()


# --- the flow diagram ------------------------------------------------------------------------


@dataclass
class DiagramRule:
    id: int
    step: str
    input_text: str
    next_step: str = ""
    match_image_description: bool = False
    advance_steps: int = 0
    handler: str = ""
    active: bool = True
    priority: int = 100
    response_text: str = ""


def test_the_diagram_marks_rules_that_read_photos() -> None:
    graph = flow_graph(
        [DiagramRule(1, "inicio", "recibo", "pagos", match_image_description=True), DiagramRule(2, "inicio", "hola")],
        initial_step="inicio",
        ai_handoff_step="ia_chat",
    )
    edges = {edge["rule_id"]: edge for edge in graph["edges"]}
    assert edges[1]["label"] == IMAGE_DESCRIPTION_MARK + "recibo"
    assert edges[1]["title"] == "recibo · also matched in the description of a photo"
    assert (edges[2]["label"], edges[2]["title"]) == ("hola", "hola")
