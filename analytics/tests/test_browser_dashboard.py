"""The dashboard in real Chromium: every chart drawn with the fixed data, empty states for an empty range,
the filter bar, a bad filter explained, Spanish by default and English. Screenshots: var/screenshots/dashboard/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from analytics.services.metrics import METRICS
from analytics.tests import metrics_data
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "dashboard"
PASSWORD = "clave-segura-123"
SETTLED = "() => [...document.querySelectorAll('[data-metric]')].every(c => c.dataset.state !== 'loading')"


@pytest.fixture(autouse=True)
def _business_zone(settings: Any) -> None:
    settings.TIME_ZONE = "America/Mexico_City"


def shot(page: Any, name: str) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def log_in(page: Any, base_url: str, language: str = "es") -> None:  # noqa: F811
    User.objects.create_superuser("jefa", password=PASSWORD)
    page.context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", "jefa")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.locator("button[type=submit], input[type=submit]").first.click()


def open_dashboard(page: Any, url: str) -> list[str]:  # noqa: F811
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function(SETTLED)
    return errors


def states(page: Any) -> dict[str, str]:  # noqa: F811
    return page.eval_on_selector_all(
        "[data-metric]", "cards => Object.fromEntries(cards.map(c => [c.dataset.metric, c.dataset.state]))"
    )


def chart_data(page: Any, metric: str) -> list[list[Any]]:  # noqa: F811
    return page.evaluate(
        "name => Chart.getChart(document.querySelector(`[data-metric=${name}] canvas`)).data.datasets.map(d => d.data)",
        metric,
    )


def figure(page: Any, metric: str, key: str) -> str:  # noqa: F811
    return page.inner_text(f"[data-metric={metric}] [data-figure={key}]")


def test_every_chart_is_drawn_with_data_in_spanish(live_server: Any, page: Any) -> None:  # noqa: F811
    world = metrics_data.build()
    log_in(page, live_server.url)
    page.get_by_role("link", name="Tablero").click()  # from the top bar
    page.wait_for_function(SETTLED)
    assert page.inner_text("h1") == "Tablero"

    errors = open_dashboard(page, live_server.url + "/tablero/?start=2025-03-10&end=2025-03-12")
    assert errors == []
    assert states(page) == dict.fromkeys(METRICS, "ready")
    assert page.input_value("input[name=start]") == "2025-03-10"
    assert page.inner_text("[data-metric=messages_per_day] h2") == "Mensajes por día"
    assert chart_data(page, "messages_per_day") == [[6, 3, 2], [7, 2, 4]]
    assert figure(page, "messages_per_day", "messages") == "24"
    assert figure(page, "first_response", "median_seconds") == "5 min"
    assert figure(page, "first_response", "p90_seconds") == "10 min"
    assert figure(page, "resolution", "p90_seconds") == "11 h 30 min"
    assert figure(page, "ai_answers", "fallback_rate").replace("\xa0", " ") == "33,3 %"
    assert figure(page, "messages_per_hour", "busiest_hour") == "09:00"
    assert chart_data(page, "unmatched_by_step") == [[2, 1]]
    csv = page.get_attribute("[data-metric=top_numbers] [data-csv]", "href")
    assert csv == "/api/metrics/top_numbers/?start=2025-03-10&end=2025-03-12&format=csv"
    shot(page, "data-es")

    # The filter bar: the Soporte number only (Caro's chat), and the address keeps it.
    page.select_option("select[name=channel]", str(world.soporte.pk))
    page.click("button.apply")
    page.wait_for_function(SETTLED)
    page.wait_for_function("() => location.search.includes('channel=')")
    assert chart_data(page, "messages_per_day") == [[2, 2, 1], [2, 1, 3]]
    assert states(page)["first_response"] == "empty"  # no agent answered Caro
    assert page.is_visible("[data-metric=first_response] [data-empty]")

    # A bad filter is explained, not drawn.
    page.fill("input[name=number]", "12ab")
    page.click("button.apply")
    page.wait_for_function(SETTLED)
    assert page.inner_text("[data-filter-error]").startswith("Revisa los filtros:")
    assert "Un número: de 3 a 20 dígitos." in page.inner_text("[data-filter-error]")
    assert set(states(page).values()) == {"error"}
    shot(page, "bad-filter-es")


def test_an_empty_range_says_so_on_every_card(live_server: Any, page: Any) -> None:  # noqa: F811
    metrics_data.build()
    log_in(page, live_server.url)
    errors = open_dashboard(page, live_server.url + "/tablero/?start=2024-01-01&end=2024-01-07")
    assert errors == []
    assert states(page) == dict.fromkeys(METRICS, "empty")
    assert page.locator("[data-empty]:visible").count() == len(METRICS)
    assert page.locator("[data-empty]:visible").first.inner_text() == "No hay datos para este rango."
    assert figure(page, "first_response", "median_seconds") == "—"
    shot(page, "empty-es")


def test_the_dashboard_in_english(live_server: Any, page: Any) -> None:  # noqa: F811
    metrics_data.build()
    log_in(page, live_server.url, language="en")
    errors = open_dashboard(page, live_server.url + "/tablero/?start=2025-03-10&end=2025-03-12")
    assert errors == []
    assert page.inner_text("h1") == "Dashboard"
    assert page.inner_text("[data-metric=first_response] h2") == "Agents' first response time"
    assert states(page) == dict.fromkeys(METRICS, "ready")
    assert figure(page, "ai_answers", "fallback_rate") == "33.3%"
    page.set_viewport_size({"width": 420, "height": 900})  # a phone: one column
    page.wait_for_function("() => document.documentElement.scrollWidth <= 420")  # the charts fit the phone
    shot(page, "data-en-phone")
