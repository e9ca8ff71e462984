"""Rule handlers, command handlers and their registries: pure, no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flows.engine import CommandData, RuleData, State
from flows.handlers import (
    COMMAND_HANDLERS,
    COUNTERTOP_ERROR_TEXT,
    DEFAULT_COMMANDS,
    HANDLERS,
    HELP_HEADER,
    HUMAN_HANDOFF_TEXT,
    CommandResult,
    HandlerResult,
    format_area_m2,
    format_cop,
    help_text,
    parse_measures,
    parse_price,
    register_command,
    register_handler,
)
from flows.tests import factories
from whatsapp_ia.text import normalize_text

QUOTE_1_44 = "Área: 1,44 m² · Precio: $604.800"


def countertop(text: str, calculation: str = "420000") -> HandlerResult:
    rule = factories.rule_data(id=7, step="medidas", handler="countertop_quote", calculation=calculation)
    return HANDLERS["countertop_quote"](text=text, calculation=calculation, rule=rule)


# --- countertop_quote ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2.4x0.6",
        "2,4 x 0,6 m",
        "240 x 60 cm",
        "2.4 por 0.6",
        "2.40m x 0.60m",
        "240x60",
        "2.4 X 0.6",
        "2.4 \u00d7 0.6",
        "2.4mx0.6m",
        "2400 x 600 mm",
        "2.4 m x 60 cm",
        "240cm por 60cm",
        "Mi mesón mide 2,4 mts x 0,6 mts, gracias",
    ],
)
def test_countertop_quote_reads_every_way_of_writing_2_4_by_0_6(text: str) -> None:
    result = countertop(text)

    assert result.ok is True
    assert result.text == QUOTE_1_44
    assert result.hand_off_to_human is False


@pytest.mark.parametrize(
    ("text", "calculation", "expected"),
    [
        ("1x1", "420000", "Área: 1,00 m² · Precio: $420.000"),
        ("3 x 0.65", "350000", "Área: 1,95 m² · Precio: $682.500"),
        # the price uses the area the customer sees (1,48), rounded half up
        ("2.35 x 0.63", "420000", "Área: 1,48 m² · Precio: $621.600"),
        ("1x1", "$420.000", "Área: 1,00 m² · Precio: $420.000"),
        ("1x1", "999,5", "Área: 1,00 m² · Precio: $1.000"),
        ("10 x 10", "1500000", "Área: 100,00 m² · Precio: $150.000.000"),
    ],
)
def test_countertop_quote_amounts(text: str, calculation: str, expected: str) -> None:
    result = countertop(text, calculation)

    assert result.ok is True
    assert result.text == expected


@pytest.mark.parametrize("text", ["hola", "", "2.4", "dos por uno", "0 x 0.6", "0x5", "240 x 0.6", "2.4 y 0.6"])
def test_countertop_quote_rejects_bad_measures_with_the_expected_format(text: str) -> None:
    result = countertop(text)

    assert result.ok is False
    assert result.text == COUNTERTOP_ERROR_TEXT
    assert result.hand_off_to_human is False
    assert result.problem is None


@pytest.mark.parametrize("calculation", ["", "abc", "0", "-5"])
def test_countertop_quote_without_a_price_is_a_configuration_problem(calculation: str) -> None:
    result = countertop("2.4x0.6", calculation)

    assert result.ok is False
    assert result.hand_off_to_human is True
    assert result.text
    assert result.problem is not None
    assert "rule 7" in result.problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.4x0.6", (Decimal("2.4"), Decimal("0.6"))),
        ("240x60", (Decimal("2.4"), Decimal("0.6"))),  # both > 10: centimeters
        ("12 x 8", (Decimal("12"), Decimal("8"))),  # not both > 10: meters
        ("2.4 m x 60 cm", (Decimal("2.4"), Decimal("0.6"))),  # each unit applies to its number
        ("2400 x 600 mm", (Decimal("2.4"), Decimal("0.6"))),
        ("5000 x 3000", (Decimal("50"), Decimal("30"))),  # read as centimeters
        ("500 x 0.5", None),  # a 500 m side is a typo
        ("sin medidas", None),
    ],
)
def test_parse_measures(text: str, expected: tuple[Decimal, Decimal] | None) -> None:
    assert parse_measures(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("420000", Decimal("420000")),
        ("420.000", Decimal("420000")),
        ("$ 420.000", Decimal("420000")),
        ("1.234.567,5", Decimal("1234567.5")),
        ("420000.5", Decimal("420000.5")),
        ("12,5", Decimal("12.5")),
        ("420000 COP", Decimal("420000")),
        ("", None),
        ("abc", None),
        ("0", None),
        ("4.2.0", None),
    ],
)
def test_parse_price(value: str, expected: Decimal | None) -> None:
    assert parse_price(value) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("604800"), "$604.800"),
        (Decimal("604800.49"), "$604.800"),
        (Decimal("604800.5"), "$604.801"),
        (Decimal("999"), "$999"),
        (Decimal("0"), "$0"),
        (Decimal("1234567"), "$1.234.567"),
        (Decimal("-1500"), "-$1.500"),
    ],
)
def test_format_cop(amount: Decimal, expected: str) -> None:
    assert format_cop(amount) == expected


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        (Decimal("1.44"), "1,44 m²"),
        (Decimal("1.445"), "1,45 m²"),
        (Decimal("2"), "2,00 m²"),
        (Decimal("1234.5"), "1.234,50 m²"),
    ],
)
def test_format_area_m2(area: Decimal, expected: str) -> None:
    assert format_area_m2(area) == expected


# --- human_handoff ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calculation", "response_text", "roles", "text"),
    [
        ("", "", (), HUMAN_HANDOFF_TEXT),
        ("ventas", "", ("ventas",), HUMAN_HANDOFF_TEXT),
        (" ventas , soporte ", "Te paso con ventas", ("ventas", "soporte"), None),
    ],
)
def test_human_handoff(calculation: str, response_text: str, roles: tuple[str, ...], text: str | None) -> None:
    rule = factories.rule_data(
        id=7, step="medidas", handler="human_handoff", calculation=calculation, response_text=response_text
    )

    result = HANDLERS["human_handoff"](text="quiero un asesor", calculation=calculation, rule=rule)

    assert result.ok is True
    assert result.hand_off_to_human is True
    assert result.assign_roles == roles
    # None means "the rule's own response_text is the reply"
    assert result.text == text


# --- registries ------------------------------------------------------------------------------


def test_shipped_handlers_are_registered() -> None:
    assert {"countertop_quote", "human_handoff"} <= set(HANDLERS)
    assert {"restart", "help", "human", "menu"} <= set(COMMAND_HANDLERS)


@pytest.mark.parametrize(
    ("register", "registry", "name"),
    [
        (register_handler, HANDLERS, "countertop_quote"),
        (register_command, COMMAND_HANDLERS, "restart"),
    ],
)
def test_registering_a_name_twice_fails_loudly(register, registry: dict, name: str) -> None:
    original = registry[name]

    with pytest.raises(ValueError, match="already registered"):
        register(name)(lambda **kwargs: None)

    assert registry[name] is original


@pytest.mark.parametrize("name", ["", " padded "])
def test_registering_a_bad_name_fails(name: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        register_handler(name)


def test_register_handler_adds_to_the_registry() -> None:
    @register_handler("test_echo")
    def echo(*, text: str, calculation: str, rule: RuleData) -> HandlerResult:
        return HandlerResult(text=text)

    try:
        assert HANDLERS["test_echo"] is echo
        assert HANDLERS["test_echo"](text="hi", calculation="", rule=factories.rule_data()).text == "hi"
    finally:
        del HANDLERS["test_echo"]


def test_register_command_adds_to_the_registry() -> None:
    @register_command("test_noop")
    def noop(*, command: CommandData, state: State, commands: list[CommandData]) -> CommandResult:
        return CommandResult(text="ok")

    try:
        assert COMMAND_HANDLERS["test_noop"] is noop
    finally:
        del COMMAND_HANDLERS["test_noop"]


# --- command handlers ------------------------------------------------------------------------

DEFAULT_COMMAND_DATA = factories.default_command_data()
STATE = State(step="medidas", initial_step="inicio")


def run_command(handler: str, response_text: str = "") -> CommandResult:
    command = factories.command_data(id=99, keywords="x", handler=handler, response_text=response_text)
    return COMMAND_HANDLERS[handler](command=command, state=STATE, commands=DEFAULT_COMMAND_DATA)


@pytest.mark.parametrize(
    ("handler", "next_step", "restart", "run_default_rule", "hand_off"),
    [
        ("restart", "inicio", True, True, False),
        ("menu", "inicio", False, True, False),
        ("help", None, False, False, False),
        ("human", None, False, False, True),
    ],
)
def test_command_handlers(
    handler: str, next_step: str | None, restart: bool, run_default_rule: bool, hand_off: bool
) -> None:
    result = run_command(handler)

    assert result.next_step == next_step
    assert result.restart is restart
    assert result.run_default_rule is run_default_rule
    assert result.hand_off_to_human is hand_off


@pytest.mark.parametrize(
    ("handler", "response_text", "expected"),
    [
        ("human", "", HUMAN_HANDOFF_TEXT),
        ("human", "Ya te atiende alguien", "Ya te atiende alguien"),
        ("help", "Escribe menú", "Escribe menú"),
        ("restart", "Empezamos otra vez", "Empezamos otra vez"),
        ("restart", "", None),
    ],
)
def test_command_handler_texts(handler: str, response_text: str, expected: str | None) -> None:
    assert run_command(handler, response_text).text == expected


def test_default_help_lists_every_commands_keywords() -> None:
    text = help_text(DEFAULT_COMMAND_DATA)

    assert text.startswith(HELP_HEADER)
    assert "• reiniciar / reset / empezar de nuevo — Empezar la conversación de nuevo" in text
    assert "• asesor / humano / agente — Hablar con un asesor" in text
    assert run_command("help").text == text


def test_default_commands_rows_are_complete_and_unambiguous() -> None:
    seen: dict[str, str] = {}
    for row in DEFAULT_COMMANDS:
        assert set(row) == {"keywords", "handler", "description", "response_text"}
        assert row["handler"] in COMMAND_HANDLERS
        assert row["description"]
        for keyword in row["keywords"].split(","):
            normalized = normalize_text(keyword)
            # "menu" and "menú" are the same keyword of the same command; never of two commands
            assert seen.setdefault(normalized, row["handler"]) == row["handler"]
    assert {row["handler"] for row in DEFAULT_COMMANDS} == {"restart", "help", "human", "menu"}
