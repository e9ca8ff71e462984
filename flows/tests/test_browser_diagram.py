"""The flow diagram admin page in real Chromium: the vendored Cytoscape.js draws the demo flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from flows.models import Rule
from flows.tests import factories
from whatsapp_ia.demo import DEMO_RULES, demo_flow_load
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# Every step of the demo: the ones its rules answer in and the ones they lead to (the AI hand-off step too).
DEMO_STEPS = {rule[0] for rule in DEMO_RULES} | {rule[6] for rule in DEMO_RULES if rule[6]}


def _log_in(page: Any, base_url: str) -> None:  # noqa: F811
    User.objects.create_superuser(username="root", password="admin-pass-123")
    page.goto(base_url + "/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "admin-pass-123")
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(base_url + "/admin/")


def test_diagram_draws_the_demo_flow_and_marks_the_dangling_step(live_server: Any, page: Any) -> None:  # noqa: F811
    demo_flow_load()
    dangling = factories.rule(
        step="menu",
        input_text="horarios, horario",
        priority=40,
        response_text="Atendemos de 8 a 6. ¿Quieres agendar?",
        next_step="agenda_horarios",
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page, live_server.url)

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/admin/flows/rule/diagram/")
    try:
        page.wait_for_function("window.flowDiagram && window.flowDiagram.ready === true", timeout=15_000)
    finally:
        assert errors == []
    drawn = page.evaluate(
        """() => ({
            nodes: window.flowDiagram.nodeCount,
            rules: window.flowDiagram.ruleCount,
            layout: window.flowDiagram.layout,
            dangling: window.flowDiagram.nodes("dangling"),
            initial: window.flowDiagram.nodes("initial"),
            steps: window.flowDiagram.nodes(),
            // Steps readable; rule labels ("*" is a small one) drawn, whatever the zoom the demo's size needs.
            laidOut: window.flowDiagram.cy.nodes(".step-node").every(
                (n) => n.visible() && n.renderedBoundingBox().w > 20
            ) && window.flowDiagram.cy.nodes(".rule-label").every(
                (n) => n.visible() && n.renderedBoundingBox().w > 0
            ),
        })"""
    )
    assert set(drawn["steps"]) == DEMO_STEPS | {"agenda_horarios"}
    assert drawn["nodes"] == len(DEMO_STEPS) + 1
    assert drawn["rules"] == Rule.objects.filter(active=True).count()
    assert drawn["layout"] == "dagre"
    assert "agenda_horarios" in drawn["dangling"]
    assert drawn["initial"] == ["inicio"]
    assert drawn["laidOut"]

    # The warning about the dangling step is listed above the drawing.
    warning = page.locator(".flow-warnings li", has_text="agenda_horarios")
    assert warning.is_visible()
    assert f"#{dangling.pk}" in warning.inner_text()

    # Nodes do not overlap each other (a readable layout).
    overlaps = page.evaluate(
        """() => {
            const boxes = window.flowDiagram.cy.nodes().map((n) => n.boundingBox());
            let count = 0;
            for (let i = 0; i < boxes.length; i++)
                for (let j = i + 1; j < boxes.length; j++) {
                    const a = boxes[i], b = boxes[j];
                    if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2) count++;
                }
            return count;
        }"""
    )
    assert overlaps == 0
    page.screenshot(path=str(SHOTS / "admin-flow-diagram.png"), full_page=True)

    # Clicking the dangling node opens the add form for that step.
    position = page.evaluate(
        """() => {
            const n = window.flowDiagram.cy.getElementById("n:agenda_horarios");
            const box = document.getElementById("flow-diagram").getBoundingClientRect();
            const p = n.renderedPosition();
            return {x: box.left + p.x, y: box.top + p.y};
        }"""
    )
    page.mouse.click(position["x"], position["y"])
    page.wait_for_url("**/admin/flows/rule/add/?step=agenda_horarios")
    assert page.locator("#id_step").input_value() == "agenda_horarios"
