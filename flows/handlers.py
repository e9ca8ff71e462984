"""Named handlers that rules and global commands call (dispatch tables).

Two registries, both plain dicts filled by decorators:

- ``HANDLERS``: rule handlers. A rule whose ``handler`` field names one is
  answered by calling ``HANDLERS[name](text=..., calculation=rule.calculation,
  rule=rule)``, which returns a :class:`HandlerResult`.
- ``COMMAND_HANDLERS``: global-command handlers (``restart``, ``help``,
  ``human``, ``menu``), called as ``fn(command=..., state=..., commands=...)``
  and returning a :class:`CommandResult` that the engine applies.

Everything here is pure: no Django, no ORM, no I/O. Handlers return data and
the caller (flows.engine, then a service) does the sending and saving.
Registering a name twice raises; an unknown name at run time is the engine's
business (it answers with the fallback and reports the problem).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from flows.engine import CommandData, RuleData, State

__all__ = [
    "COMMAND_HANDLERS",
    "COUNTERTOP_ERROR_TEXT",
    "DEFAULT_COMMANDS",
    "HANDLERS",
    "HELP_HEADER",
    "HUMAN_HANDOFF_TEXT",
    "MENU_TEXT",
    "RESTART_TEXT",
    "CommandHandler",
    "CommandResult",
    "Handler",
    "HandlerResult",
    "format_area_m2",
    "format_cop",
    "help_text",
    "parse_measures",
    "parse_price",
    "register_command",
    "register_handler",
]

HUMAN_HANDOFF_TEXT = "Un asesor te atenderá en breve."
RESTART_TEXT = "Listo, empecemos de nuevo."
MENU_TEXT = "¿En qué te puedo ayudar?"
HELP_HEADER = "Puedes escribir en cualquier momento:"
COUNTERTOP_ERROR_TEXT = "No entendí las medidas. Escríbelas como 2.4x0.6 o 240 x 60 cm."
COUNTERTOP_UNAVAILABLE_TEXT = "En este momento no puedo calcular el precio. Un asesor te ayudará en breve."


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandlerResult:
    """What a rule handler computed.

    ok=True: ``text`` is the result (None = nothing to add; the rule's
    response_text is used as is). The engine puts it in the rule's
    response_text where it says ``{result}``, or replies it alone.
    ok=False: the input was not understood; ``text`` is a message telling the
    customer what was expected, and the conversation stays in the same step.
    ``problem`` is for the operators (logged by the caller), never shown.
    """

    text: str | None = None
    ok: bool = True
    hand_off_to_human: bool = False
    next_step: str | None = None
    assign_roles: tuple[str, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class CommandResult:
    """What a global command asks the engine to do.

    ``text`` is replied first (None/"" = nothing). ``next_step`` None keeps the
    step. ``run_default_rule`` answers like a fresh chat in the resulting step
    (its ``*`` rule and that rule's advance_steps cascade); when that produces
    no reply and ``text`` is empty, ``text_if_silent`` is replied instead.
    """

    text: str | None = None
    next_step: str | None = None
    restart: bool = False
    run_default_rule: bool = False
    hand_off_to_human: bool = False
    text_if_silent: str | None = None


class Handler(Protocol):
    def __call__(self, *, text: str, calculation: str, rule: RuleData) -> HandlerResult: ...


class CommandHandler(Protocol):
    def __call__(self, *, command: CommandData, state: State, commands: Sequence[CommandData]) -> CommandResult: ...


# --- registries ----------------------------------------------------------------------------

HANDLERS: dict[str, Handler] = {}
COMMAND_HANDLERS: dict[str, CommandHandler] = {}

_F = TypeVar("_F", bound=Callable[..., object])


def _register(registry: dict, kind: str, name: str) -> Callable[[_F], _F]:
    if not name or name != name.strip():
        raise ValueError(f"{kind} name must be a non-empty string without surrounding spaces: {name!r}")

    def decorator(func: _F) -> _F:
        if name in registry:
            raise ValueError(f"{kind} {name!r} is already registered ({registry[name]!r})")
        registry[name] = func
        return func

    return decorator


def register_handler(name: str) -> Callable[[_F], _F]:
    """Register a rule handler under ``name``; registering a name twice raises ValueError."""
    return _register(HANDLERS, "handler", name)


def register_command(name: str) -> Callable[[_F], _F]:
    """Register a global-command handler under ``name``; registering a name twice raises ValueError."""
    return _register(COMMAND_HANDLERS, "command handler", name)


# --- formatting (Colombian style: "1.234,56") -----------------------------------------------


def _group_thousands(digits: str) -> str:
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return ".".join(groups)


def format_cop(amount: Decimal) -> str:
    """Pesos with dot thousands and no decimals, rounded half up: Decimal("604800.4") -> "$604.800"."""
    rounded = int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign = "-" if rounded < 0 else ""
    return f"{sign}${_group_thousands(str(abs(rounded)))}"


def format_area_m2(area: Decimal) -> str:
    """Square meters with a decimal comma and two decimals: Decimal("1.44") -> "1,44 m²"."""
    rounded = area.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, _, fraction = f"{abs(rounded):.2f}".partition(".")
    sign = "-" if rounded < 0 else ""
    return f"{sign}{_group_thousands(whole)},{fraction} m²"


# --- countertop (mesón) calculator ------------------------------------------------------------

_UNIT_FACTORS = {
    "mm": Decimal("0.001"),
    "milimetro": Decimal("0.001"),
    "milimetros": Decimal("0.001"),
    "cm": Decimal("0.01"),
    "cms": Decimal("0.01"),
    "centimetro": Decimal("0.01"),
    "centimetros": Decimal("0.01"),
    "m": Decimal(1),
    "mt": Decimal(1),
    "mts": Decimal(1),
    "metro": Decimal(1),
    "metros": Decimal(1),
}
# Longest first so "mts" is not read as "m" + "ts".
_UNIT = "|".join(sorted(_UNIT_FACTORS, key=len, reverse=True))
_NUMBER = r"\d+(?:[.,]\d+)?"
_MEASURES_RE = re.compile(
    rf"(?P<a>{_NUMBER})\s*(?:(?P<ua>{_UNIT})(?![a-wyz]))?\.?\s*"
    rf"(?:x|\*|por|by)\s*"
    rf"(?P<b>{_NUMBER})\s*(?:(?P<ub>{_UNIT})(?![a-z]))?"
)
# Beyond this a "measure" is a typo or a phone number, not a countertop side.
_MAX_SIDE_M = Decimal(100)


def _fold_measures(text: str) -> str:
    """Lower case, no accents, the multiplication sign as "x"; digits and separators left alone."""
    folded = unicodedata.normalize("NFKD", text.casefold().replace("\u00d7", "x"))
    return "".join(c for c in folded if not unicodedata.combining(c))


def parse_measures(text: str) -> tuple[Decimal, Decimal] | None:
    """Two sides in meters from "2.4x0.6", "2,4 x 0,6 m", "240 x 60 cm", "2.4 por 0.6", "2.40m x 0.60m".

    A unit written after a number applies to it; a unit written only once
    applies to both sides. Without any unit, both numbers > 10 means
    centimeters ("240x60"), otherwise meters. Comma or dot is the decimal
    separator. Returns None when no "<number> x <number>" is found or a side
    is zero or absurdly large.
    """
    match = _MEASURES_RE.search(_fold_measures(text))
    if match is None:
        return None
    raw_a = Decimal(match["a"].replace(",", "."))
    raw_b = Decimal(match["b"].replace(",", "."))
    unit_a, unit_b = match["ua"], match["ub"]
    if unit_a is None and unit_b is None:
        factor = Decimal("0.01") if raw_a > 10 and raw_b > 10 else Decimal(1)
        factor_a = factor_b = factor
    else:
        factor_a = _UNIT_FACTORS[unit_a or unit_b]
        factor_b = _UNIT_FACTORS[unit_b or unit_a]
    side_a, side_b = raw_a * factor_a, raw_b * factor_b
    if not (0 < side_a <= _MAX_SIDE_M and 0 < side_b <= _MAX_SIDE_M):
        return None
    return side_a, side_b


def parse_price(value: str) -> Decimal | None:
    """A price per unit from a rule's calculation field: "420000", "420.000", "$420.000", "420000.5".

    Dots followed by exactly three digits are thousands separators (Colombian
    style); otherwise a single dot or comma is the decimal separator.
    Returns None for anything else, or a price that is not positive.
    """
    cleaned = re.sub(r"[\s$_]|cop", "", value.casefold())
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", cleaned):
        cleaned = cleaned.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d+(?:[.,]\d+)?", cleaned):
        cleaned = cleaned.replace(",", ".")
    else:
        return None
    try:
        price = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the patterns above only let digits through
        return None
    return price if price > 0 else None


@register_handler("countertop_quote")
def countertop_quote(*, text: str, calculation: str, rule: RuleData) -> HandlerResult:
    """Quote a countertop (mesón): area from the customer's measures times the price per m² in ``calculation``.

    The price uses the area rounded to two decimals, the figure the customer
    sees, so "área x precio" checks out by hand. Bad measures: ok=False with
    a message showing the expected format. A missing or invalid price per m²
    is a configuration error: ok=False, hand the chat to a human, report it.
    """
    price_per_m2 = parse_price(calculation)
    if price_per_m2 is None:
        return HandlerResult(
            text=COUNTERTOP_UNAVAILABLE_TEXT,
            ok=False,
            hand_off_to_human=True,
            problem=f"rule {rule.id}: countertop_quote needs a price per m² in 'calculation', got {calculation!r}",
        )
    measures = parse_measures(text)
    if measures is None:
        return HandlerResult(text=COUNTERTOP_ERROR_TEXT, ok=False)
    area = (measures[0] * measures[1]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if area <= 0:
        return HandlerResult(text=COUNTERTOP_ERROR_TEXT, ok=False)
    price = area * price_per_m2
    return HandlerResult(text=f"Área: {format_area_m2(area)} · Precio: {format_cop(price)}")


@register_handler("human_handoff")
def human_handoff(*, text: str, calculation: str, rule: RuleData) -> HandlerResult:
    """Hand the chat to a human; ``calculation`` may name role keywords (comma-separated) to route it."""
    roles = tuple(role.strip() for role in calculation.split(",") if role.strip())
    return HandlerResult(
        text=None if rule.response_text.strip() else HUMAN_HANDOFF_TEXT,
        hand_off_to_human=True,
        assign_roles=roles,
    )


# --- global commands ---------------------------------------------------------------------------

# Shipped as GlobalCommand rows by a data migration; admins edit them afterwards.
DEFAULT_COMMANDS: list[dict[str, str]] = [
    {
        "keywords": "reiniciar, reset, empezar de nuevo",
        "handler": "restart",
        "description": "Empezar la conversación de nuevo",
        "response_text": "",
    },
    {
        "keywords": "ayuda, help",
        "handler": "help",
        "description": "Ver estos comandos",
        "response_text": "",
    },
    {
        "keywords": "asesor, humano, agente",
        "handler": "human",
        "description": "Hablar con un asesor",
        "response_text": HUMAN_HANDOFF_TEXT,
    },
    {
        "keywords": "menu, menú, inicio",
        "handler": "menu",
        "description": "Volver al menú principal",
        "response_text": "",
    },
]


def _keywords(raw: str) -> list[str]:
    return [keyword.strip() for keyword in raw.split(",") if keyword.strip()]


def help_text(commands: Sequence[CommandData]) -> str:
    """The default help: one line per command with its keywords and description."""
    lines = [HELP_HEADER]
    for command in commands:
        keywords = " / ".join(_keywords(command.keywords))
        if not keywords:
            continue
        description = command.description.strip()
        lines.append(f"• {keywords} — {description}" if description else f"• {keywords}")
    return "\n".join(lines)


@register_command("restart")
def command_restart(*, command: CommandData, state: State, commands: Sequence[CommandData]) -> CommandResult:
    """Back to the initial step (history kept) and answer like a new conversation."""
    return CommandResult(
        text=command.response_text.strip() or None,
        next_step=state.initial_step,
        restart=True,
        run_default_rule=True,
        text_if_silent=RESTART_TEXT,
    )


@register_command("help")
def command_help(*, command: CommandData, state: State, commands: Sequence[CommandData]) -> CommandResult:
    """Reply the command's text, or list every command's keywords; the step does not change."""
    return CommandResult(text=command.response_text.strip() or help_text(commands))


@register_command("human")
def command_human(*, command: CommandData, state: State, commands: Sequence[CommandData]) -> CommandResult:
    """Hand the chat to a human agent; the step does not change."""
    return CommandResult(text=command.response_text.strip() or HUMAN_HANDOFF_TEXT, hand_off_to_human=True)


@register_command("menu")
def command_menu(*, command: CommandData, state: State, commands: Sequence[CommandData]) -> CommandResult:
    """Back to the initial step's menu (its ``*`` rule) without restarting the session."""
    return CommandResult(
        text=command.response_text.strip() or None,
        next_step=state.initial_step,
        run_default_rule=True,
        text_if_silent=MENU_TEXT,
    )
