"""The rule engine, table-driven over plain dataclasses: no database, no I/O."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from flows.engine import (
    DEFAULT_LIST_BUTTON,
    MAX_ADVANCE_STEPS,
    CommandData,
    Decision,
    Incoming,
    MediaData,
    Option,
    Reply,
    RuleData,
    State,
    decide,
    default_rule,
    match_rule,
    parse_options,
    rule_reply,
)
from flows.handlers import (
    COUNTERTOP_ERROR_TEXT,
    HANDLERS,
    HELP_HEADER,
    HUMAN_HANDOFF_TEXT,
    RESTART_TEXT,
    HandlerResult,
)
from flows.tests import factories

FALLBACK = "No te entendí."
QUOTE_1_44 = "Área: 1,44 m² · Precio: $604.800"


def rule(rule_id: int, step: str, input_text: str, **fields: Any) -> RuleData:
    """The tables below in short: id, step, keywords, then only what the case is about (answer "r<id>")."""
    return factories.rule_data(
        id=rule_id, step=step, input_text=input_text, **{"response_text": f"r{rule_id}", **fields}
    )


def make_state(step: str, **fields: Any) -> State:
    return State(step=step, initial_step="inicio", fallback_text=FALLBACK, **fields)


COMMANDS = factories.default_command_data()

# A small shop flow: greeting menu -> menu -> countertop quote -> closing.
FLOW = [
    rule(
        1,
        "inicio",
        "*",
        response_type="button",
        response_text="¡Hola! ¿Qué necesitas?",
        options="Catálogo | Cotizar mesón | Horarios",
        next_step="menu",
    ),
    rule(10, "menu", "catalogo, ver catalogo", priority=10, response_text="Nuestro catálogo"),
    rule(11, "menu", "cotizar meson, cotizar", priority=20, response_text="Escribe las medidas", next_step="medidas"),
    rule(12, "menu", "horarios, horario", priority=30, response_text="Lunes a sábado"),
    rule(13, "menu", "*", response_text="Elige una opción del menú"),
    rule(
        20,
        "medidas",
        "*",
        handler="countertop_quote",
        calculation="420000",
        response_text="Tu mesón: {result}. ¿Hablamos con un asesor?",
        next_step="cierre",
        role_keyword="ventas",
    ),
    rule(30, "cierre", "si, claro", handler="human_handoff", calculation="ventas", response_text="Te paso con ventas"),
    rule(31, "cierre", "no", response_text="¡Gracias!", next_step="inicio"),
]


def texts(decision: Decision) -> list[str]:
    return [reply.text for reply in decision.replies]


def run(
    text: str = "",
    *,
    step: str,
    rules: Sequence[RuleData] = FLOW,
    commands: Sequence[CommandData] = COMMANDS,
    state: State | None = None,
    interactive_id: str = "",
    interactive_title: str = "",
    **registries: Any,
) -> Decision:
    """decide() for a text (or tapped option) in ``step``, with the shop flow and default commands."""
    return decide(
        rules=rules,
        commands=commands,
        incoming=Incoming(text=text, interactive_id=interactive_id, interactive_title=interactive_title),
        state=state or make_state(step),
        **registries,
    )


# --- keyword matching ------------------------------------------------------------------------

MATCHING_RULES = [
    rule(1, "menu", "precio", priority=50),
    rule(2, "menu", "precio meson, cotizar", priority=20),
    rule(3, "menu", "hola", priority=10),
    rule(4, "menu", "*", priority=1),  # a default never beats a keyword, whatever its priority
    rule(5, "menu", "buenos dias", priority=60),
    rule(6, "otro", "catalogo", priority=1),
    rule(7, "menu", "hola buenos dias", priority=90),
    rule(8, "menu", "👍", priority=70),
]


@pytest.mark.parametrize(
    ("incoming", "expected_id"),
    [
        pytest.param(Incoming(text="precio"), 1, id="exact keyword"),
        pytest.param(Incoming(text="PRECIO!!"), 1, id="exact after normalization"),
        pytest.param(Incoming(text="¿Cuál es el precio del mesón?"), 1, id="phrase within text"),
        pytest.param(Incoming(text="Precio mesón"), 2, id="second keyword of a list"),
        pytest.param(Incoming(text="quiero cotizar ya"), 2, id="keyword contained"),
        pytest.param(Incoming(text="hola, buenos días"), 7, id="exact beats contained with lower priority"),
        pytest.param(Incoming(text="hola y buenos dias"), 3, id="two contained: lower priority wins"),
        pytest.param(Incoming(text="Buenos días"), 5, id="accents ignored"),
        pytest.param(Incoming(text="precios"), 4, id="whole words only (plural)"),
        pytest.param(Incoming(text="aprecio"), 4, id="whole words only (inside a word)"),
        pytest.param(Incoming(text="catalogo"), 4, id="other steps ignored"),
        pytest.param(Incoming(text=""), 4, id="empty text gets the default"),
        pytest.param(Incoming(interactive_id="precio_meson"), 2, id="interactive id"),
        pytest.param(Incoming(interactive_title="Cotizar"), 2, id="interactive title"),
        pytest.param(Incoming(text="Cotizar", interactive_id="hola"), 3, id="id exact, lower priority"),
        pytest.param(Incoming(text="👍"), 8, id="emoji keyword"),
        pytest.param(Incoming(text="ok👍"), 8, id="emoji next to a word"),
    ],
)
def test_matching(incoming: Incoming, expected_id: int) -> None:
    decision = decide(rules=MATCHING_RULES, commands=[], incoming=incoming, state=make_state("menu"))

    assert decision.matched_rule_ids == (expected_id,)
    assert texts(decision) == [f"r{expected_id}"]
    assert decision.unmatched is False


NUMBER_RULES = [
    rule(1, "menu", "cotizar, 1", priority=10),
    rule(2, "menu", "catalogo, 2", priority=20),
    rule(3, "menu", "2 metros", priority=15),
    rule(4, "menu", "*", priority=100),
]


@pytest.mark.parametrize(
    ("text", "expected_id"),
    [
        pytest.param("2", 2, id="the number alone"),
        pytest.param("opción 2", 2, id="the number after a word"),
        pytest.param("Opción 2.", 2, id="the number before a full stop"),
        pytest.param("la 2 por favor", 2, id="the number inside a sentence"),
        pytest.param("2\ufe0f\u20e3", 2, id="the keycap emoji of the number"),
        pytest.param("quiero 2 metros", 3, id="a multi-word keyword with a number is still a phrase"),
        pytest.param("2,4 x 0,6", 4, id="a decimal comma measurement is not option 2"),
        pytest.param("2.4x0.6", 4, id="a decimal point measurement is not option 2"),
        pytest.param("mide 2,4", 4, id="a decimal is not option 2"),
        pytest.param("12", 4, id="a longer number is not option 2"),
        pytest.param("2x3", 4, id="a measurement is not option 2"),
        pytest.param("2 x 3", 4, id="a spaced measurement is not option 2"),
        pytest.param("2\u00d73", 4, id="a measurement with a times sign is not option 2"),
        pytest.param("1.250", 4, id="thousands are one number"),
        pytest.param("1 o 2", 1, id="two whole numbers: lower priority wins"),
    ],
)
def test_number_keywords_match_whole_numbers_only(text: str, expected_id: int) -> None:
    decision = decide(rules=NUMBER_RULES, commands=[], incoming=Incoming(text=text), state=make_state("menu"))

    assert decision.matched_rule_ids == (expected_id,)


def test_match_rule_ignores_the_default_and_default_rule_finds_it() -> None:
    assert match_rule(MATCHING_RULES, "menu", Incoming(text="nada que ver")) is None
    assert default_rule(MATCHING_RULES, "menu") == MATCHING_RULES[3]
    assert default_rule(MATCHING_RULES, "otro") is None


@pytest.mark.parametrize(
    ("rules", "expected_id"),
    [
        pytest.param([rule(9, "s", "hola", priority=5), rule(8, "s", "hola", priority=5)], 8, id="same priority: id"),
        pytest.param([rule(1, "s", "hola", priority=50), rule(2, "s", "hola", priority=5)], 2, id="lower priority"),
        pytest.param([rule(3, "s", "*", priority=9), rule(2, "s", "*", priority=9)], 2, id="two defaults: id"),
        pytest.param([rule(1, "s", "*", priority=9), rule(2, "s", "*", priority=1)], 2, id="two defaults: priority"),
        pytest.param([rule(1, "s", "adios, *"), rule(2, "s", "hola")], 2, id="default with keywords"),
    ],
)
def test_priority_and_id_tie_break(rules: list[RuleData], expected_id: int) -> None:
    decision = decide(rules=rules, commands=[], incoming=Incoming(text="hola"), state=make_state("s"))

    assert decision.matched_rule_ids == (expected_id,)


def test_a_rule_with_keywords_and_a_wildcard_also_matches_its_keywords() -> None:
    rules = [rule(1, "s", "hola, *", priority=50), rule(2, "s", "hola mundo", priority=1)]

    decision = decide(rules=rules, commands=[], incoming=Incoming(text="hola"), state=make_state("s"))

    assert decision.matched_rule_ids == (1,)


# --- replies ---------------------------------------------------------------------------------


def test_options_parse_with_ids_and_descriptions() -> None:
    assert parse_options("Ver catálogo | Cotizar mesón: Calcula el precio |  | Sí | sí") == (
        Option(id="ver_catalogo", title="Ver catálogo"),
        Option(id="cotizar_meson", title="Cotizar mesón", description="Calcula el precio"),
        Option(id="si", title="Sí"),
        Option(id="si_5", title="sí"),
    )


@pytest.mark.parametrize(
    ("response_type", "list_button"),
    [("list", DEFAULT_LIST_BUTTON), ("button", "")],
)
def test_interactive_reply(response_type: str, list_button: str) -> None:
    source = rule(1, "s", "*", response_type=response_type, response_text="Elige", options="A | B: bee")

    reply = rule_reply(source)

    assert reply == Reply(
        type=response_type,
        text="Elige",
        options=(Option("a", "A"), Option("b", "B", "bee")),
        rule_id=1,
        list_button=list_button,
    )


def test_list_button_label_comes_from_the_state() -> None:
    rules = [rule(1, "s", "*", response_type="list", options="A | B")]

    decision = run(step="s", rules=rules, state=make_state("s", list_button="Opciones"))

    assert decision.replies[0].list_button == "Opciones"


def test_tapping_an_option_matches_the_rule_keyed_by_its_title() -> None:
    greeting = run("hola", step="inicio")
    cotizar = next(option for option in greeting.replies[0].options if option.title == "Cotizar mesón")

    decision = run(step=greeting.next_step, interactive_id=cotizar.id, interactive_title=cotizar.title)

    assert cotizar.id == "cotizar_meson"
    assert decision.matched_rule_ids == (11,)
    assert decision.next_step == "medidas"


MEDIA = (
    MediaData("document", "https://x/ficha.pdf", "Ficha"),
    MediaData("image", "https://x/a.jpg", "A"),
    MediaData("image", "https://x/b.jpg", "B"),
)


@pytest.mark.parametrize(
    ("response_type", "response_text", "expected_type", "expected_media"),
    [
        pytest.param(
            "image",
            "Mira esto",
            "image",
            (replace(MEDIA[1], caption="Mira esto"), MEDIA[0], MEDIA[2]),
            id="first media of the type is the message, captioned with the text",
        ),
        pytest.param(
            "image", "", "image", (MEDIA[1], MEDIA[0], MEDIA[2]), id="without text the media keeps its caption"
        ),
        pytest.param(
            "video",
            "Video",
            "video",
            (replace(MEDIA[0], caption="Video"), MEDIA[1], MEDIA[2]),
            id="no media of the type: the first one",
        ),
        pytest.param("text", "Hola", "text", MEDIA, id="text reply carries media as extras"),
    ],
)
def test_media_replies(
    response_type: str, response_text: str, expected_type: str, expected_media: tuple[MediaData, ...]
) -> None:
    source = rule(1, "s", "*", response_type=response_type, response_text=response_text, media=MEDIA)

    reply = rule_reply(source)

    assert reply is not None
    assert reply.type == expected_type
    assert reply.text == response_text
    assert reply.media == expected_media


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"response_type": "image"}, "image without media"),
        ({"response_type": "list"}, "list without options"),
        ({"response_type": "sticker"}, "unknown response type"),
    ],
)
def test_unsendable_rule_replies_degrade_to_text_and_report(fields: dict[str, str], problem: str) -> None:
    rules = [rule(1, "s", "*", response_text="Hola", **fields)]

    decision = run(step="s", rules=rules)

    assert decision.replies == (Reply(type="text", text="Hola", rule_id=1),)
    assert any(problem in p for p in decision.problems)


def test_a_rule_with_nothing_to_say_is_still_matched_and_moves() -> None:
    rules = [rule(1, "s", "*", response_text="", next_step="t")]

    decision = run("hola", step="s", rules=rules)

    assert decision.replies == ()
    assert decision.matched_rule_ids == (1,)
    assert decision.next_step == "t"
    assert decision.unmatched is False


# --- steps, advance_steps and roles --------------------------------------------------------


def chain(advance_steps: int, *extra: RuleData) -> list[RuleData]:
    return [
        rule(10, "a", "go", response_text="GO", next_step="b", advance_steps=advance_steps),
        rule(20, "b", "*", response_text="B", next_step="c"),
        rule(30, "c", "*", response_text="C", next_step="d"),
        rule(40, "d", "solo esto", response_text="D"),  # no * rule: a cascade stops here
        *extra,
    ]


@pytest.mark.parametrize(
    ("advance_steps", "replies", "next_step"),
    [
        (0, ["GO"], "b"),
        (1, ["GO", "B"], "c"),
        (2, ["GO", "B", "C"], "d"),
        (5, ["GO", "B", "C"], "d"),  # stops at d: no * rule
    ],
)
def test_advance_steps_multi_jump(advance_steps: int, replies: list[str], next_step: str) -> None:
    decision = run("go", step="a", rules=chain(advance_steps))

    assert texts(decision) == replies
    assert decision.next_step == next_step
    assert decision.matched_rule_ids == (10, 20, 30)[: len(replies)]


def test_advance_steps_stops_at_a_cycle() -> None:
    rules = [
        rule(1, "a", "go", response_text="GO", next_step="b", advance_steps=MAX_ADVANCE_STEPS * 10),
        rule(2, "b", "*", response_text="B", next_step="a"),
        rule(3, "a", "*", response_text="A", next_step="b"),
    ]

    decision = run("go", step="a", rules=rules)

    assert texts(decision) == ["GO", "B", "A"]
    assert decision.next_step == "b"


def test_advance_steps_is_capped() -> None:
    rules = [rule(0, "s0", "go", next_step="s1", advance_steps=1000)]
    rules += [rule(i, f"s{i}", "*", next_step=f"s{i + 1}") for i in range(1, 100)]

    decision = run("go", step="s0", rules=rules)

    assert len(decision.replies) == 1 + MAX_ADVANCE_STEPS
    assert decision.next_step == f"s{MAX_ADVANCE_STEPS + 1}"


def test_advance_steps_waits_at_a_default_rule_with_a_handler() -> None:
    rules = chain(2, rule(25, "c", "*", priority=1, handler="countertop_quote", calculation="420000"))

    decision = run("go", step="a", rules=rules)

    assert texts(decision) == ["GO", "B"]
    assert decision.next_step == "c"


def test_a_rule_without_next_step_stays() -> None:
    decision = run("horarios", step="menu")

    assert texts(decision) == ["Lunes a sábado"]
    assert decision.next_step == "menu"


@pytest.mark.parametrize(
    ("role_keyword", "cascade_role", "expected"),
    [
        ("", "", ()),
        ("ventas", "", ("ventas",)),
        ("ventas", "vip", ("ventas", "vip")),
        ("ventas", "ventas", ("ventas",)),
        (" ventas , soporte ", "", ("ventas", "soporte")),
    ],
)
def test_role_assignment(role_keyword: str, cascade_role: str, expected: tuple[str, ...]) -> None:
    rules = [
        rule(1, "a", "go", next_step="b", advance_steps=1, role_keyword=role_keyword),
        rule(2, "b", "*", role_keyword=cascade_role),
    ]

    decision = run("go", step="a", rules=rules)

    assert decision.assign_roles == expected


# --- handlers --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2,4 x 0,6 m", "240 x 60 cm", "2.4x0.6"])
def test_countertop_rule_quotes_and_moves_on(text: str) -> None:
    decision = run(text, step="medidas")

    assert texts(decision) == [f"Tu mesón: {QUOTE_1_44}. ¿Hablamos con un asesor?"]
    assert decision.next_step == "cierre"
    assert decision.assign_roles == ("ventas",)
    assert decision.matched_rule_ids == (20,)
    assert decision.hand_off_to_human is False


def test_handler_text_is_the_whole_reply_without_a_result_placeholder() -> None:
    rules = [rule(1, "s", "*", handler="countertop_quote", calculation="420000", response_text="Tu precio")]

    decision = run("240x60", step="s", rules=rules)

    assert texts(decision) == [QUOTE_1_44]


def test_countertop_bad_input_explains_the_format_and_stays() -> None:
    decision = run("no sé, grande", step="medidas")

    assert decision.replies == (Reply(type="text", text=COUNTERTOP_ERROR_TEXT, rule_id=20),)
    assert decision.next_step == "medidas"
    assert decision.assign_roles == ()
    assert decision.unmatched is False
    assert decision.hand_off_to_human is False


def test_countertop_without_price_hands_off_and_reports() -> None:
    rules = [rule(1, "s", "*", handler="countertop_quote", calculation="", next_step="t")]

    decision = run("2.4x0.6", step="s", rules=rules)

    assert decision.hand_off_to_human is True
    assert decision.next_step == "s"
    assert decision.replies and decision.replies[0].text
    assert any("price per m²" in p for p in decision.problems)


def test_human_handoff_rule() -> None:
    decision = run("sí", step="cierre")

    assert texts(decision) == ["Te paso con ventas"]
    assert decision.hand_off_to_human is True
    assert decision.assign_roles == ("ventas",)
    assert decision.next_step == "cierre"


def test_human_handoff_rule_without_text_uses_the_default() -> None:
    rules = [rule(1, "s", "asesor humano", handler="human_handoff", response_text="")]

    decision = run("quiero un asesor humano", step="s", rules=rules, commands=[])

    assert texts(decision) == [HUMAN_HANDOFF_TEXT]
    assert decision.hand_off_to_human is True


def fixed_handler(result: HandlerResult):
    def handler(*, text: str, calculation: str, rule: RuleData) -> HandlerResult:
        return result

    return handler


def broken_handler(*, text: str, calculation: str, rule: RuleData) -> HandlerResult:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("handler_name", "handlers", "problem"),
    [
        pytest.param("no_such_handler", HANDLERS, "unknown handler 'no_such_handler'", id="unknown"),
        pytest.param("broken", {"broken": broken_handler}, "raised RuntimeError('boom')", id="raises"),
    ],
)
def test_handler_problems_fall_back_without_raising(handler_name: str, handlers: dict, problem: str) -> None:
    rules = [rule(1, "s", "*", handler=handler_name, next_step="t", role_keyword="ventas")]

    decision = run("hola", step="s", rules=rules, handlers=handlers)

    assert texts(decision) == [FALLBACK]
    assert decision.unmatched is True
    assert decision.next_step == "s"
    assert decision.assign_roles == ()
    assert any(problem in p for p in decision.problems)


def test_handler_may_choose_the_next_step_and_roles() -> None:
    result = HandlerResult(text="42", next_step="otro", assign_roles=("vip",))
    rules = [rule(1, "s", "*", handler="custom", response_text="= {result}", next_step="t", role_keyword="ventas")]

    decision = run("x", step="s", rules=rules, handlers={"custom": fixed_handler(result)})

    assert texts(decision) == ["= 42"]
    assert decision.next_step == "otro"
    assert decision.assign_roles == ("vip", "ventas")


def test_handler_receives_the_interactive_title_when_there_is_no_text() -> None:
    seen: list[str] = []

    def spy(*, text: str, calculation: str, rule: RuleData) -> HandlerResult:
        seen.append(text)
        return HandlerResult()

    rules = [rule(1, "s", "*", handler="spy")]

    run(step="s", rules=rules, handlers={"spy": spy}, interactive_id="x_1", interactive_title="Opción 1")

    assert seen == ["Opción 1"]


# --- global commands -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["reiniciar", "RESET", "Empezar de nuevo!", "  reiniciar  "])
def test_restart_answers_like_a_new_conversation(text: str) -> None:
    fresh = run("hola", step="")

    decision = run(text, step="medidas")

    assert decision.command == "restart"
    assert decision.restart is True
    assert decision.replies == fresh.replies
    assert decision.next_step == fresh.next_step == "menu"
    assert decision.matched_rule_ids == (1,)


def test_restart_with_a_response_text_sends_it_first() -> None:
    commands = [factories.command_data(id=1, keywords="reiniciar", handler="restart", response_text="Empecemos")]

    decision = run("reiniciar", step="medidas", commands=commands)

    assert texts(decision) == ["Empecemos", "¡Hola! ¿Qué necesitas?"]


def test_restart_without_a_default_rule_still_answers() -> None:
    rules = [rule(1, "inicio", "hola")]

    decision = run("reiniciar", step="x", rules=rules)

    assert texts(decision) == [RESTART_TEXT]
    assert decision.next_step == "inicio"
    assert decision.restart is True


def test_restart_follows_the_initial_rules_advance_steps() -> None:
    rules = [
        rule(1, "inicio", "*", response_text="Hola", next_step="b", advance_steps=1),
        rule(2, "b", "*", response_text="Menú", next_step="c"),
    ]

    decision = run("reset", step="zzz", rules=rules)

    assert texts(decision) == ["Hola", "Menú"]
    assert decision.next_step == "c"


def test_help_lists_the_commands_and_keeps_the_step() -> None:
    decision = run("Ayuda", step="medidas")

    assert decision.command == "help"
    assert decision.next_step == "medidas"
    assert len(decision.replies) == 1
    assert decision.replies[0].text.startswith(HELP_HEADER)
    assert "reiniciar / reset / empezar de nuevo" in decision.replies[0].text
    assert decision.restart is False
    assert decision.matched_rule_ids == ()


def test_help_with_a_response_text() -> None:
    commands = [factories.command_data(id=1, keywords="ayuda", handler="help", response_text="Escribe menú")]

    assert texts(run("ayuda", step="menu", commands=commands)) == ["Escribe menú"]


def test_human_command_hands_off() -> None:
    decision = run("Asesor", step="medidas")

    assert decision.command == "human"
    assert decision.hand_off_to_human is True
    assert texts(decision) == [HUMAN_HANDOFF_TEXT]
    assert decision.next_step == "medidas"


@pytest.mark.parametrize("incoming", [Incoming(text="Menú"), Incoming(text="inicio"), Incoming(interactive_id="menu")])
def test_menu_goes_back_to_the_initial_menu(incoming: Incoming) -> None:
    decision = decide(rules=FLOW, commands=COMMANDS, incoming=incoming, state=make_state("cierre"))

    assert decision.command == "menu"
    assert decision.restart is False
    assert texts(decision) == ["¡Hola! ¿Qué necesitas?"]
    assert decision.next_step == "menu"


def test_commands_beat_rules() -> None:
    rules = [rule(1, "s", "ayuda", response_text="regla de ayuda"), rule(2, "s", "*")]

    decision = run("ayuda", step="s", rules=rules)

    assert decision.command == "help"
    assert decision.matched_rule_ids == ()
    assert "regla de ayuda" not in texts(decision)


def test_a_command_keyword_inside_a_sentence_is_not_a_command() -> None:
    rules = [rule(1, "s", "ayuda", response_text="regla de ayuda")]

    decision = run("necesito ayuda con mi pedido", step="s", rules=rules)

    assert decision.command is None
    assert texts(decision) == ["regla de ayuda"]


def test_commands_are_tried_by_priority_then_id() -> None:
    commands = [
        factories.command_data(id=1, keywords="salir", handler="help", response_text="ayuda", priority=50),
        factories.command_data(id=2, keywords="salir", handler="human", priority=10),
    ]

    decision = run("salir", step="s", rules=[], commands=commands)

    assert decision.command == "human"


def test_unknown_command_handler_is_skipped_and_reported() -> None:
    commands = [factories.command_data(id=5, keywords="hola", handler="nope"), *COMMANDS]
    rules = [rule(1, "s", "hola", response_text="Hola desde la regla")]

    decision = run("hola", step="s", rules=rules, commands=commands)

    assert decision.command is None
    assert texts(decision) == ["Hola desde la regla"]
    assert any("unknown command handler 'nope'" in p for p in decision.problems)


def test_a_broken_command_handler_falls_through_to_the_rules() -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("boom")

    commands = [factories.command_data(id=5, keywords="hola", handler="broken")]
    rules = [rule(1, "s", "hola", response_text="Hola desde la regla")]

    decision = run("hola", step="s", rules=rules, commands=commands, command_handlers={"broken": broken})

    assert decision.command is None
    assert texts(decision) == ["Hola desde la regla"]
    assert any("raised RuntimeError('boom')" in p for p in decision.problems)


# --- AI hand-off -----------------------------------------------------------------------------

AI_RULES = [*FLOW, rule(50, "menu", "ia, asistente", response_text="Te atiende la IA", next_step="ia_chat")]


def test_ai_step_with_ai_enabled_goes_to_the_ai() -> None:
    decision = run("¿tienen mesones de granito?", step="ia_chat", state=make_state("ia_chat", ai_enabled=True))

    assert decision == Decision(next_step="ia_chat", to_ai=True)


def test_ai_step_with_ai_disabled_goes_back_to_the_initial_step() -> None:
    decision = run("¿tienen mesones de granito?", step="ia_chat", state=make_state("ia_chat", ai_enabled=False))

    assert decision.to_ai is False
    assert texts(decision) == ["¡Hola! ¿Qué necesitas?"]
    assert decision.matched_rule_ids == (1,)
    assert decision.next_step == "menu"


def test_ai_step_with_ai_disabled_and_no_match_falls_back_in_the_initial_step() -> None:
    rules = [rule(1, "inicio", "hola")]

    decision = run("granito", step="ia_chat", rules=rules, state=make_state("ia_chat"))

    assert decision.unmatched is True
    assert decision.next_step == "inicio"


def test_ai_enabled_outside_the_ai_step_uses_the_rules() -> None:
    decision = run("horarios", step="menu", state=make_state("menu", ai_enabled=True))

    assert decision.to_ai is False
    assert texts(decision) == ["Lunes a sábado"]


def test_a_rule_hands_over_to_the_ai_step_and_the_first_message_is_the_rules() -> None:
    decision = run("asistente", step="menu", rules=AI_RULES, state=make_state("menu", ai_enabled=True))

    assert decision.to_ai is False
    assert texts(decision) == ["Te atiende la IA"]
    assert decision.next_step == "ia_chat"


def test_commands_beat_the_ai() -> None:
    decision = run("reiniciar", step="ia_chat", state=make_state("ia_chat", ai_enabled=True))

    assert decision.to_ai is False
    assert decision.restart is True
    assert decision.next_step == "menu"


def test_custom_ai_step_name() -> None:
    decision = run("hola", step="bot", state=make_state("bot", ai_enabled=True, ai_handoff_step="bot"))

    assert decision.to_ai is True


# --- fallback --------------------------------------------------------------------------------


def test_no_match_and_no_default_replies_the_fallback() -> None:
    decision = run("nada", step="cierre")

    assert decision.replies == (Reply(type="text", text=FALLBACK),)
    assert decision.unmatched is True
    assert decision.next_step == "cierre"
    assert decision.matched_rule_ids == ()


def test_empty_fallback_text_sends_nothing_but_flags() -> None:
    decision = run("nada", step="cierre", state=replace(make_state("cierre"), fallback_text=""))

    assert decision.replies == ()
    assert decision.unmatched is True


def test_unknown_step_falls_back_and_stays() -> None:
    decision = run("hola", step="paso_borrado")

    assert decision.unmatched is True
    assert decision.next_step == "paso_borrado"


def test_a_new_chat_starts_in_the_initial_step() -> None:
    decision = run("buenas", step="")

    assert decision.matched_rule_ids == (1,)
    assert decision.next_step == "menu"
    assert decision.replies[0].type == "button"


def test_a_default_rule_answers_instead_of_the_fallback() -> None:
    decision = run("algo raro", step="menu")

    assert texts(decision) == ["Elige una opción del menú"]
    assert decision.unmatched is False
    assert decision.next_step == "menu"


# --- a whole conversation ------------------------------------------------------------------


def test_a_whole_conversation() -> None:
    step = ""
    transcript = []
    for text in ["Hola", "quiero cotizar", "grande", "240 x 60 cm", "sí"]:
        decision = run(text, step=step)
        transcript.append((texts(decision), decision.next_step))
        step = decision.next_step

    assert transcript == [
        (["¡Hola! ¿Qué necesitas?"], "menu"),
        (["Escribe las medidas"], "medidas"),
        ([COUNTERTOP_ERROR_TEXT], "medidas"),
        ([f"Tu mesón: {QUOTE_1_44}. ¿Hablamos con un asesor?"], "cierre"),
        (["Te paso con ventas"], "cierre"),
    ]
    assert decision.hand_off_to_human is True


def test_the_engine_is_pure() -> None:
    # Importing the engine must not import Django (nor anything that does).
    code = "import sys, flows.engine; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    root = Path(__file__).resolve().parents[2]

    output = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)

    assert output.stdout.strip() == "[]"
