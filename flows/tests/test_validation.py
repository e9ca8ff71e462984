"""Rule checks against WhatsApp's limits and flow checks (pure), then the admin form that applies them (DB)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from accounts.models import User
from flows.engine import MAX_ADVANCE_STEPS, parse_options
from flows.forms import RuleAdminForm, current_flow_warnings, rule_save_warnings
from flows.models import Rule, RuleMedia
from flows.tests import factories
from flows.validation import (
    BODY_MAX,
    BUTTON_TITLE_MAX,
    LIST_DESCRIPTION_MAX,
    LIST_TITLE_MAX,
    TEXT_MAX,
    Problem,
    advance_chain,
    analyze_flow,
    flow_warnings,
    rule_problems,
)

INITIAL, AI = "inicio", "ia_chat"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are translatable; these tests read the English msgids."""
    with translation.override("en"):
        yield


@dataclass
class R:
    """A rule-like object for the flow checks (what flows.validation.RuleLike reads)."""

    id: int
    step: str
    input_text: str = "*"
    next_step: str = ""
    advance_steps: int = 0
    handler: str = ""
    active: bool = True
    priority: int = 100


def errors(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems if p.severity == "warning"]


def titles(n: int, length: int = 8) -> str:
    return " | ".join(f"{i}".rjust(length, "x") for i in range(1, n + 1))


# --- rule_problems: WhatsApp's limits --------------------------------------------------------

BODY = "¿Qué deseas hacer?"


@pytest.mark.parametrize(
    ("kwargs", "expected_errors"),
    [
        # buttons: 1 to 3, titles up to 20, unique
        ({"response_type": "button", "options": titles(3), "response_text": BODY}, []),
        ({"response_type": "button", "options": "Solo uno", "response_text": BODY}, []),
        (
            {"response_type": "button", "options": titles(4), "response_text": BODY},
            ["4 buttons given; WhatsApp allows at most 3. Use a list for more options."],
        ),
        (
            {"response_type": "button", "options": "Cotizar | Cambiar horario largo", "response_text": BODY},
            ["Button 2 title 'Cambiar horario largo' has 21 characters; WhatsApp allows 20."],
        ),
        ({"response_type": "button", "options": "x" * BUTTON_TITLE_MAX, "response_text": BODY}, []),
        (
            {"response_type": "button", "options": "Sí | No | Sí", "response_text": BODY},
            ["Button 3 title 'Sí' repeats button 1; WhatsApp requires unique titles."],
        ),
        (
            {"response_type": "button", "options": " | ", "response_text": BODY},
            ["A button response needs 1 to 3 options separated by |; none given."],
        ),
        (
            {"response_type": "button", "options": "Sí | No", "response_text": "  "},
            ["WhatsApp requires a body text for buttons and lists; enter one."],
        ),
        # a handler may provide the body
        ({"response_type": "button", "options": "Sí | No", "handler": "countertop_quote"}, []),
        # lists: 1 to 10 rows, titles up to 24, descriptions up to 72
        ({"response_type": "list", "options": titles(10), "response_text": BODY}, []),
        (
            {"response_type": "list", "options": titles(11), "response_text": BODY},
            ["11 list rows given; WhatsApp allows at most 10."],
        ),
        (
            {"response_type": "list", "options": "y" * LIST_TITLE_MAX + " | " + "z" * 25, "response_text": BODY},
            [f"Row 2 title '{'z' * 25}' has 25 characters; WhatsApp allows 24."],
        ),
        (
            {"response_type": "list", "options": "Granito: " + "d" * LIST_DESCRIPTION_MAX, "response_text": BODY},
            [],
        ),
        (
            {"response_type": "list", "options": "Granito: " + "d" * 73, "response_text": BODY},
            [f"Row 1 description '{'d' * 73}' has 73 characters; WhatsApp allows 72."],
        ),
        (
            {"response_type": "list", "options": "", "response_text": BODY},
            ["A list response needs 1 to 10 rows separated by |; none given."],
        ),
        # body text: 1024 with buttons or a list, 4096 for text, 1024 as a caption
        ({"response_type": "list", "options": "A", "response_text": "b" * BODY_MAX}, []),
        (
            {"response_type": "button", "options": "A", "response_text": "b" * (BODY_MAX + 1)},
            ["The body text has 1025 characters; WhatsApp allows 1024 with buttons or a list."],
        ),
        ({"response_type": "text", "response_text": "t" * TEXT_MAX}, []),
        (
            {"response_type": "text", "response_text": "t" * (TEXT_MAX + 1)},
            ["The text has 4097 characters; WhatsApp allows 4096."],
        ),
        (
            {"response_type": "image", "response_text": "c" * 1025, "media_types": ["image"]},
            ["The caption has 1025 characters; WhatsApp allows 1024."],
        ),
        # handlers must be registered
        ({"response_type": "text", "response_text": "{result}", "handler": "countertop_quote"}, []),
        (
            {"response_type": "text", "response_text": "x", "handler": "cotizar_meson"},
            ["Unknown handler 'cotizar_meson'. Available handlers: countertop_quote, human_handoff."],
        ),
        # keywords
        (
            {"response_type": "text", "response_text": "x", "input_text": " , "},
            ["Enter at least one keyword, or * for the step's default answer."],
        ),
        ({"response_type": "sticker", "response_text": "x"}, ["Unknown response type 'sticker'."]),
    ],
)
def test_rule_errors(kwargs: dict[str, Any], expected_errors: list[str]) -> None:
    assert errors(rule_problems(**kwargs)) == expected_errors


@pytest.mark.parametrize(
    ("kwargs", "expected_warnings"),
    [
        (
            {"response_type": "image", "response_text": "Mira", "media_types": []},
            ["A response of type image needs a media item below; without one the text is sent instead."],
        ),
        ({"response_type": "image", "response_text": "Mira", "media_types": None}, []),  # unknown: not checked
        ({"response_type": "image", "response_text": "Mira", "media_types": ["document", "image"]}, []),
        (
            {"response_type": "video", "response_text": "Mira", "media_types": ["image"]},
            ["None of the media is of type video; the first media is sent as the video."],
        ),
        (
            {"response_type": "audio", "response_text": "Escucha", "media_types": ["audio"]},
            ["Audio messages have no caption: this response text is not sent."],
        ),
        (
            {"response_type": "text", "response_text": "Hola", "options": "A | B"},
            ["Options are only sent with buttons or a list; a text response ignores them."],
        ),
        (
            {"response_type": "button", "response_text": BODY, "options": "Horario: 8 a 6 | Otro"},
            [
                "Button 1 has a description ('8 a 6') that WhatsApp does not show on buttons; "
                "a ':' in an option starts its description."
            ],
        ),
        (
            {"response_type": "text", "response_text": "x", "advance_steps": MAX_ADVANCE_STEPS + 5},
            ["The bot advances at most 20 steps in a row; 25 is capped to that."],
        ),
        (
            {"response_type": "text", "response_text": " ", "media_types": []},
            ["The response text is empty: this rule sends no message."],
        ),
        ({"response_type": "text", "response_text": " ", "media_types": ["image"]}, []),
    ],
)
def test_rule_warnings(kwargs: dict[str, Any], expected_warnings: list[str]) -> None:
    problems = rule_problems(**kwargs)
    assert errors(problems) == []
    assert warnings(problems) == expected_warnings


def test_problems_name_their_field() -> None:
    problems = rule_problems(
        response_type="button",
        options=titles(4),
        response_text="",
        handler="nope",
        input_text="",
    )
    assert {p.field for p in problems} == {"options", "handler", "input_text"}
    assert all(p.is_error for p in problems)


def test_options_are_counted_exactly_as_the_engine_parses_them() -> None:
    raw = "Cotizar | | Ver catálogo: materiales |Asesor|"
    assert len(parse_options(raw)) == 3
    assert errors(rule_problems(response_type="button", options=raw, response_text=BODY)) == []
    # The title is what comes before the first ':'; the rest is the description.
    long_title = "Ver catálogo completo: ahora"
    assert errors(rule_problems(response_type="list", options=long_title, response_text=BODY)) == []


def test_custom_handler_registry() -> None:
    assert errors(rule_problems(response_type="text", response_text="x", handler="mine", handlers={"mine"})) == []
    assert errors(rule_problems(response_type="text", response_text="x", handler="other", handlers={"mine"})) == [
        "Unknown handler 'other'. Available handlers: mine."
    ]


# --- flow_warnings: dangling, unreachable, defaults, the AI step ------------------------------

DEMO = [
    R(1, "inicio", "*", "menu"),
    R(2, "menu", "cotizar, 1", "medidas"),
    R(3, "menu", "catalogo, 2", "menu"),
    R(4, "menu", "asesor, 3", "asesor", handler="human_handoff"),
    R(5, "menu", "*", "menu"),
    R(6, "medidas", "*", "visita", handler="countertop_quote"),
    R(7, "visita", "si", "asesor", handler="human_handoff"),
    R(8, "visita", "no, *", "menu"),
]


def analysis_of(rules: list[R]) -> Any:
    return analyze_flow(rules, initial_step=INITIAL, ai_handoff_step=AI)


@pytest.mark.parametrize(
    ("rules", "dangling", "unreachable", "without_default"),
    [
        pytest.param(DEMO, ["asesor"], [], [], id="demo: human hand-off step has no rule"),
        pytest.param([R(1, "inicio", "*", "")], [], [], [], id="empty next step stays in the step"),
        pytest.param([R(1, "inicio", "*", "inicio")], [], [], [], id="self-loop"),
        pytest.param([R(1, "inicio", "*", AI)], [], [], [], id="the AI hand-off step is served by the AI"),
        pytest.param([R(1, "inicio", "*", "menú")], ["menú"], [], [], id="targeted step without rules"),
        pytest.param(
            [R(1, "inicio", "*", "a"), R(2, "b", "*", "a"), R(3, "a", "*", "")],
            [],
            ["b"],
            [],
            id="no path from the initial step",
        ),
        pytest.param(
            [R(1, "inicio", "*", "a"), R(2, "a", "x", "b"), R(3, "b", "*", "c"), R(4, "c", "*", "")],
            [],
            [],
            ["a"],
            id="reachable through a chain; a step without * rule",
        ),
        pytest.param(
            [R(1, "inicio", "*", "menu"), R(2, "menu", "*", ""), R(3, "menu", "x", "", active=False)],
            [],
            [],
            [],
            id="inactive rules are ignored",
        ),
        pytest.param(
            [R(1, "inicio", "*", "menu"), R(2, "menu", "*", "", active=False)],
            ["menu"],
            [],
            [],
            id="a step whose only rule is inactive is dangling",
        ),
        pytest.param([R(1, "menu", "*", "")], ["inicio"], ["menu"], [], id="initial step without rules"),
        pytest.param([], [], [], [], id="no rules"),
    ],
)
def test_flow_analysis(rules: list[R], dangling: list[str], unreachable: list[str], without_default: list[str]) -> None:
    analysis = analysis_of(rules)
    assert analysis.dangling == dangling
    assert analysis.unreachable == unreachable
    assert analysis.without_default == without_default


def test_flow_warnings_of_the_demo_flow() -> None:
    assert flow_warnings(DEMO, initial_step=INITIAL, ai_handoff_step=AI) == [
        "Step 'asesor' is the next step of rules #4, #7, but no active rule handles it: "
        "chats sent there get the fallback text."
    ]


def test_flow_warnings_kinds_and_order() -> None:
    rules = [
        R(1, "inicio", "hola", "menu"),
        R(2, "menu", "*", "fantasma"),
        R(3, "isla", "*", "menu"),
        R(4, AI, "*", "menu"),
        R(5, "menu", "ia", AI),
    ]
    assert flow_warnings(rules, initial_step=INITIAL, ai_handoff_step=AI) == [
        "Step 'fantasma' is the next step of rule #2, but no active rule handles it: "
        "chats sent there get the fallback text.",
        "Step 'isla' cannot be reached from the initial step 'inicio': no rule leads there.",
        "Step 'inicio' has no * rule: messages that match none of its keywords get the fallback text.",
        "Rule #4 is in the AI hand-off step 'ia_chat' and never runs: the AI answers there "
        "(with the AI off, chats there start over at 'inicio').",
    ]


def test_initial_step_without_rules_is_warned_about() -> None:
    assert flow_warnings([R(1, "menu", "*")], initial_step=INITIAL, ai_handoff_step=AI)[0] == (
        "The initial step 'inicio' has no active rule: new chats get the fallback text."
    )


# advance_steps: the engine runs the * rule of the next steps without waiting (flows.engine._advance)

CHAIN = [
    R(1, "inicio", "*", "a", advance_steps=2),
    R(2, "a", "*", "b"),
    R(3, "b", "*", "c"),
    R(4, "c", "*", "d"),
    R(5, "d", "*", ""),
]


@pytest.mark.parametrize(
    ("rules", "rule_id", "expected"),
    [
        pytest.param(CHAIN, 1, ["b", "c"], id="two hops"),
        pytest.param([*CHAIN[1:], R(1, "inicio", "*", "a", advance_steps=9)], 1, ["b", "c", "d", "d"], id="to the end"),
        pytest.param([R(1, "inicio", "*", "a", advance_steps=3), R(2, "a", "x", "b")], 1, [], id="no * rule"),
        pytest.param(
            [R(1, "inicio", "*", "a", advance_steps=3), R(2, "a", "*", "b", handler="countertop_quote")],
            1,
            [],
            id="stops at a handler",
        ),
        pytest.param(
            [R(1, "inicio", "*", "a", advance_steps=5), R(2, "a", "*", "inicio")],
            1,
            ["inicio"],
            id="stops at a rule already answered",
        ),
    ],
)
def test_advance_chain(rules: list[R], rule_id: int, expected: list[str]) -> None:
    rule = next(r for r in rules if r.id == rule_id)
    assert advance_chain(rules, rule) == expected


def test_advance_steps_chains_count_for_reachability() -> None:
    rules = [R(1, "inicio", "*", "a", advance_steps=2), R(2, "a", "*", "b"), R(3, "b", "*", "")]
    analysis = analysis_of(rules)
    # a's * rule moves to b, then b's * rule answers and stays in b: two hops.
    assert analysis.advance_chains == {1: ["b", "b"]}
    assert analysis.unreachable == []
    assert analysis.reachable == {"inicio", "a", "b"}


def test_an_advance_that_advances_nowhere_is_warned_about() -> None:
    rules = [R(1, "inicio", "*", "a", advance_steps=2), R(2, "a", "si", "")]
    assert (
        "Rule #1 advances 2 steps, but step 'a' has no * rule the bot can run without waiting for the customer, "
        "so nothing advances." in flow_warnings(rules, initial_step=INITIAL, ai_handoff_step=AI)
    )


def test_engine_rule_data_fits_the_checks() -> None:

    data = factories.rule_data(response_text="Hola", next_step="menu")
    assert analysis_of([data]).dangling == ["menu"]  # type: ignore[list-item]


# --- the admin form (database) ---------------------------------------------------------------

ADD_URL = "/admin/flows/rule/add/"


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    return client


def escaped(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


@pytest.mark.django_db
def test_too_many_buttons_is_an_error_on_the_admin_page(admin_client: Client) -> None:
    response = admin_client.post(
        ADD_URL,
        factories.rule_form(
            response_type="button", response_text=BODY, options="Cotizar | Catálogo | Asesor | Horarios"
        ),
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "4 buttons given; WhatsApp allows at most 3." in content
    assert response.context["adminform"].form.errors["options"]
    assert not Rule.objects.exists()


@pytest.mark.django_db
def test_a_long_button_title_is_named_with_its_length(admin_client: Client) -> None:
    response = admin_client.post(
        ADD_URL,
        factories.rule_form(response_type="button", response_text=BODY, options="Cotizar | Cambiar horario largo"),
    )
    assert response.status_code == 200
    assert escaped("Button 2 title 'Cambiar horario largo' has 21 characters; WhatsApp allows 20.") in (
        response.content.decode()
    )


@pytest.mark.django_db
def test_an_unknown_handler_is_an_error(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, factories.rule_form(handler="calcular"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["handler"] == [
        "Unknown handler 'calcular'. Available handlers: countertop_quote, human_handoff."
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("keywords", ["cotizar, menú", "Menu , COTIZAR"])
def test_same_step_and_keywords_is_a_form_error_not_a_500(admin_client: Client, keywords: str) -> None:
    existing = factories.rule(step="menu", input_text="menu, cotizar", response_text="x")
    response = admin_client.post(ADD_URL, factories.rule_form(input_text=keywords))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["input_text"] == [
        f"Rule #{existing.pk} already answers the keywords 'menu, cotizar' in step 'menu'. "
        "Edit that rule, or change the keywords or the step."
    ]
    assert Rule.objects.count() == 1


@pytest.mark.django_db
def test_editing_a_rule_does_not_clash_with_itself(admin_client: Client) -> None:
    rule = factories.rule(step="menu", input_text="horarios", response_text="x")
    response = admin_client.post(
        f"/admin/flows/rule/{rule.pk}/change/", factories.rule_form(key=rule.key, priority="5")
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.priority == 5


@pytest.mark.django_db
def test_a_dangling_next_step_is_saved_with_a_warning(admin_client: Client) -> None:
    factories.rule(step="menu", input_text="*", response_text="Menú")
    response = admin_client.post(ADD_URL, factories.rule_form(next_step="agenda"))
    assert response.status_code == 302
    rule = Rule.objects.get(input_text="horarios")
    assert rule.next_step == "agenda"
    assert rule.key == "menu:horarios"  # the key is optional and derived
    assert rule_save_warnings(rule) == [
        "No active rule handles the next step 'agenda' yet: chats sent there get the fallback text until you "
        "add a rule for that step.",
        "Step 'menu' cannot be reached from the initial step 'inicio': no rule leads there.",
    ]


@pytest.mark.django_db
def test_form_keeps_warnings_and_suggests_a_close_step() -> None:
    factories.rule(step="inicio", input_text="*", response_text="Hola", next_step="menu")
    factories.rule(step="menu", input_text="*", response_text="Menú")
    form = RuleAdminForm(data=factories.rule_form(next_step="menuu", response_type="text", options="A | B"))
    assert form.is_valid(), form.errors
    assert form.warnings == [
        "Options are only sent with buttons or a list; a text response ignores them.",
        "No active rule handles the next step 'menuu' yet: chats sent there get the fallback text until you "
        "add a rule for that step. Did you mean 'menu'?",
    ]
    for next_step in ("", "menu", AI):
        form = RuleAdminForm(data=factories.rule_form(next_step=next_step))
        assert form.is_valid(), form.errors
        assert form.warnings == []


@pytest.mark.django_db
def test_the_form_suggests_known_steps_and_explains_fields() -> None:
    factories.rule(step="inicio", input_text="*", response_text="Hola", next_step="menu")
    html = RuleAdminForm().as_p()
    assert 'list="id_next_step_steps"' in html
    assert '<option value="menu"></option>' in html
    assert "1 to 3 titles of at most 20 characters" in html
    assert "New chats start in 'inicio'." in html


@pytest.mark.django_db
def test_save_warnings_check_the_stored_media() -> None:
    factories.rule(step="inicio", input_text="*", response_text="Hola", next_step="")
    rule = factories.rule(step="inicio", input_text="foto", response_type="image", response_text="Mira")
    assert rule_save_warnings(rule) == [
        "A response of type image needs a media item below; without one the text is sent instead."
    ]
    RuleMedia.objects.create(rule=rule, media_type="image", url="https://example.com/a.jpg")
    assert rule_save_warnings(rule) == []


@pytest.mark.django_db
def test_current_flow_warnings_are_capped() -> None:
    factories.rule(step="inicio", input_text="*", response_text="Hola", next_step="menu")
    for n in range(5):
        factories.rule(step="inicio", input_text=f"k{n}", response_text="x", next_step=f"nada{n}")
    assert len(current_flow_warnings()) == 6  # menu + nada0..4
    capped = current_flow_warnings(limit=2)
    assert len(capped) == 3
    assert capped[-1] == "…and 4 more warnings: see the flow diagram."
