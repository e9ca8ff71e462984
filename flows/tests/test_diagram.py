"""The flow as a graph (pure) and the admin's flow diagram page (database, test client)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import translation

from accounts.models import User
from flows.diagram import EDGE_KINDS, LABEL_MAX, NODE_KINDS, flow_graph, shorten
from flows.models import Rule
from flows.tests import factories
from whatsapp_ia.demo import demo_flow_load

INITIAL, AI = "inicio", "ia_chat"
DIAGRAM_URL = "/admin/flows/rule/diagram/"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@dataclass
class R:
    id: int
    step: str
    input_text: str = "*"
    next_step: str = ""
    advance_steps: int = 0
    handler: str = ""
    active: bool = True
    priority: int = 100
    response_text: str = ""


def graph_of(rules: list[R]) -> dict[str, Any]:
    return flow_graph(rules, initial_step=INITIAL, ai_handoff_step=AI)


def kinds(graph: dict[str, Any]) -> dict[str, str]:
    return {node["id"]: node["kind"] for node in graph["nodes"]}


def edges_by_id(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {edge["id"]: edge for edge in graph["edges"]}


# The first version of the demo flow (a menu, a quote, a visit, a human hand-off), kept here as the
# diagram's fixture: the shipped demo (whatsapp_ia.demo) grows, these expectations stay put.
DEMO_RULES = [
    # step, input_text, priority, type, text, options, next_step, role_keyword, handler, calculation
    ("inicio", "*", 100, "button",
     "¡Hola! 👋 Bienvenido a Mesones del Valle. ¿En qué te ayudamos?",
     "Cotizar mesón|Ver catálogo|Hablar con asesor", "menu", "", "", ""),
    ("menu", "cotizar meson, cotizar, 1", 10, "text",
     "Escríbeme las medidas del mesón (largo x ancho), por ejemplo 2.4x0.6 o 240 x 60 cm.",
     "", "medidas", "ventas", "", ""),
    ("menu", "ver catalogo, catalogo, 2", 20, "list",
     "Estos son nuestros materiales:", "Granito: Negro San Gabriel|Cuarzo: Blanco Polar|Mármol: Crema Marfil",
     "menu", "", "", ""),
    ("menu", "hablar con asesor, asesor, 3", 30, "text",
     "Te comunico con un asesor. Un momento, por favor.", "", "asesor", "soporte", "human_handoff", ""),
    ("menu", "*", 100, "text",
     "No entendí tu opción. Elige una de las opciones del menú o escribe *menu*.", "", "menu", "", "", ""),
    ("medidas", "*", 10, "text",
     "{result}\n¿Deseas agendar una visita de medición? Responde *si* o *no*.", "", "visita", "ventas",
     "countertop_quote", "420000"),
    ("visita", "si, sí, claro", 10, "text",
     "¡Perfecto! Un asesor te escribirá para coordinar la visita.", "", "asesor", "ventas", "human_handoff", ""),
    ("visita", "no, *", 100, "text",
     "Listo. Si necesitas algo más escribe *menu*.", "", "menu", "", "", ""),
    ("asesor", "*", 100, "text",
     "Gracias por escribirnos. Si quieres volver al menú escribe *menu*.", "", "menu", "", "", ""),
]  # fmt: skip

DEMO = [
    R(i, step, input_text, next_step, handler=handler, priority=priority, response_text=text)
    for i, (step, input_text, priority, _type, text, _options, next_step, _role, handler, _calc) in enumerate(
        DEMO_RULES, start=1
    )
]

# The demo without its "asesor" rule: the human hand-off rules then point at a step nobody handles.
DEMO_WITHOUT_ASESOR = [rule for rule in DEMO if rule.step != "asesor"]


# --- nodes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param(
            DEMO,
            {"inicio": "initial", "menu": "step", "medidas": "step", "visita": "step", "asesor": "step"},
            id="demo",
        ),
        pytest.param(
            DEMO_WITHOUT_ASESOR,
            {"inicio": "initial", "menu": "step", "medidas": "step", "visita": "step", "asesor": "dangling"},
            id="hand-off step without a rule is dangling",
        ),
        pytest.param(
            [R(1, "inicio", "*", "menu"), R(2, "menu", "ia", AI), R(3, "menu", "*", "")],
            {"inicio": "initial", "menu": "step", AI: "ai"},
            id="AI hand-off step is not dangling",
        ),
        pytest.param(
            [R(1, "inicio", "*", "inicio"), R(2, "isla", "*", "isla")],
            {"inicio": "initial", "isla": "unreachable"},
            id="self-loops; a step nothing leads to",
        ),
        pytest.param(
            [R(1, "inicio", "*", "a", advance_steps=1), R(2, "a", "*", "b"), R(3, "b", "*", "")],
            {"inicio": "initial", "a": "step", "b": "step"},
            id="chain",
        ),
        pytest.param(
            [R(1, "menu", "*", "")],
            {"inicio": "dangling", "menu": "unreachable"},
            id="initial step without rules",
        ),
        pytest.param(
            [R(1, "inicio", "*", "menu"), R(2, "menu", "*", "", active=False)],
            {"inicio": "initial", "menu": "dangling"},
            id="inactive rules are left out",
        ),
        pytest.param([], {}, id="no rules"),
    ],
)
def test_node_kinds(rules: list[R], expected: dict[str, str]) -> None:
    graph = graph_of(rules)
    assert kinds(graph) == expected
    assert {node["kind"] for node in graph["nodes"]} <= set(NODE_KINDS)


def test_node_fields() -> None:
    graph = graph_of(DEMO)
    menu = next(node for node in graph["nodes"] if node["id"] == "menu")
    assert menu == {
        "id": "menu",
        "label": "menu",
        "kind": "step",
        "rules_count": 4,
        "initial": False,
        "has_default": True,
    }
    assert graph["nodes"][0]["id"] == INITIAL
    assert json.loads(json.dumps(graph)) == graph  # plain JSON


# --- edges -----------------------------------------------------------------------------------


def test_one_edge_per_rule_from_step_to_next_step() -> None:
    graph = graph_of(DEMO)
    edges = edges_by_id(graph)
    assert len(edges) == len(DEMO_RULES)
    assert edges["rule-1"] | {"response": ""} == {
        "id": "rule-1",
        "from": "inicio",
        "to": "menu",
        "label": "*",
        "title": "*",
        "rule_id": 1,
        "kind": "default",
        "handler": "",
        "response": "",
    }
    assert (edges["rule-2"]["from"], edges["rule-2"]["to"], edges["rule-2"]["kind"]) == ("menu", "medidas", "keyword")
    assert edges["rule-2"]["label"] == "cotizar meson, cotizar, 1"
    assert (edges["rule-3"]["from"], edges["rule-3"]["to"]) == ("menu", "menu")  # self-loop
    assert (edges["rule-4"]["kind"], edges["rule-4"]["handler"]) == ("handler", "human_handoff")
    assert edges["rule-8"]["kind"] == "default"  # "no, *" is also the default
    assert {edge["kind"] for edge in graph["edges"]} <= set(EDGE_KINDS)


def test_an_empty_next_step_is_a_self_loop() -> None:
    edge = graph_of([R(1, "inicio", "hola", "")])["edges"][0]
    assert (edge["from"], edge["to"]) == ("inicio", "inicio")


def test_labels_and_previews_are_shortened() -> None:
    keywords = "una frase clave bastante larga, otra frase clave más, y otra"
    edge = graph_of([R(1, "inicio", keywords, "", response_text="r" * 200)])["edges"][0]
    assert len(edge["label"]) == LABEL_MAX
    assert edge["label"].endswith("…")
    assert edge["title"] == keywords
    assert len(edge["response"]) == 90


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("corto", 10, "corto"),
        ("exactamente", 11, "exactamente"),
        ("demasiado largo", 8, "demasia…"),
        ("a  b\nc", 10, "a b c"),
    ],
)
def test_shorten(text: str, limit: int, expected: str) -> None:
    assert shorten(text, limit) == expected


def test_advance_steps_add_a_dashed_edge_to_where_the_cascade_ends() -> None:
    rules = [
        R(1, "inicio", "*", "a", advance_steps=2),
        R(2, "a", "*", "b"),
        R(3, "b", "*", "c"),
        R(4, "c", "*", ""),
    ]
    edges = edges_by_id(graph_of(rules))
    advance = edges["advance-1"]
    assert (advance["from"], advance["to"], advance["kind"], advance["rule_id"]) == ("a", "c", "advance", 1)
    assert advance["label"] == "auto: 2 steps"
    assert advance["title"] == "Rule #1 then runs, without waiting: b → c"
    assert "advance-2" not in edges


def test_inactive_rules_are_counted_not_drawn() -> None:
    graph = graph_of([R(1, "inicio", "*", ""), R(2, "inicio", "x", "otro", active=False)])
    assert [edge["rule_id"] for edge in graph["edges"]] == [1]
    assert graph["inactive_rules"] == 1
    assert graph["rules_count"] == 1
    assert "otro" not in kinds(graph)


def test_graph_carries_the_flow_warnings() -> None:
    assert graph_of(DEMO)["warnings"] == []
    graph = graph_of(DEMO_WITHOUT_ASESOR)
    assert graph["warnings"] == [
        "Step 'asesor' is the next step of rules #4, #7, but no active rule handles it: "
        "chats sent there get the fallback text."
    ]
    assert (graph["initial_step"], graph["ai_handoff_step"]) == (INITIAL, AI)


# --- the admin page --------------------------------------------------------------------------

XSS = "</script><script>alert(1)</script>"


def graph_in(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="flow-graph" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the graph's json_script is missing"
    return json.loads(match.group(1))


@pytest.fixture
def superuser_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    return client


@pytest.mark.django_db
def test_diagram_page_embeds_the_graph(superuser_client: Client) -> None:
    demo_flow_load()
    dangling = factories.rule(step="menu", input_text="horarios", response_text="8 a 6", next_step="agenda")
    response = superuser_client.get(DIAGRAM_URL)
    assert response.status_code == 200
    html = response.content.decode()
    graph = graph_in(html)
    assert kinds(graph)["agenda"] == "dangling"
    assert kinds(graph)["inicio"] == "initial"
    assert len(graph["edges"]) == Rule.objects.count()
    # links: the rules of a step, the add form for a step without rules, each rule's change page
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert nodes["menu"]["url"] == "/admin/flows/rule/?step__exact=menu"
    assert nodes["agenda"]["url"] == "/admin/flows/rule/add/?step=agenda"
    assert edges_by_id(graph)[f"rule-{dangling.pk}"]["url"] == f"/admin/flows/rule/{dangling.pk}/change/"
    # the page: vendored scripts (no CDN), legend, warnings, breadcrumbs
    assert "/static/vendor/cytoscape-3.34.4/cytoscape.min.js" in html
    assert "/static/vendor/dagre-3.1.3/dagre.min.js" in html
    assert "/static/js/flow_diagram.js" in html
    scripts = re.findall(r'<script[^>]* src="([^"]+)"', html)
    assert scripts and all(src.startswith("/static/") for src in scripts), scripts
    assert "flow-swatch-dangling" in html
    assert "Step &#x27;agenda&#x27; is the next step of rule" in html
    assert 'href="/admin/flows/rule/">' in html
    assert "onclick" not in html


@pytest.mark.django_db
def test_diagram_escapes_rule_text(superuser_client: Client) -> None:
    factories.rule(step="inicio", input_text=f"hola, {XSS}", response_text=f"Hola {XSS}", next_step=XSS)
    response = superuser_client.get(DIAGRAM_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert XSS not in html
    assert "<script>alert(1)" not in html
    graph = graph_in(html)
    edge = graph["edges"][0]
    assert XSS in edge["title"]
    assert XSS in edge["response"]
    assert edge["to"] == XSS


@pytest.mark.django_db
def test_diagram_empty_state(superuser_client: Client) -> None:
    factories.rule(step="inicio", input_text="*", response_text="x", active=False)
    response = superuser_client.get(DIAGRAM_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "There are no active rules yet" in html
    assert "1 inactive rule is not drawn." in html
    assert 'id="flow-graph"' not in html
    assert "cytoscape.min.js" not in html
    assert "/admin/flows/rule/add/?step=inicio" in html


@pytest.mark.django_db
def test_diagram_needs_the_view_permission(client: Client) -> None:
    staff = User.objects.create_user(username="staff", password="staff-pass-123", is_staff=True)
    client.force_login(staff)
    assert client.get(DIAGRAM_URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_rule", content_type__app_label="flows"))
    staff = User.objects.get(pk=staff.pk)  # drop the permission cache
    client.force_login(staff)
    assert client.get(DIAGRAM_URL).status_code == 200


@pytest.mark.django_db
def test_diagram_needs_a_staff_login(client: Client) -> None:
    response = client.get(DIAGRAM_URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
