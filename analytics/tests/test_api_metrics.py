"""/api/metrics/<name>/: the uniform JSON, the CSV file, filters, role scoping, clear 400s, the schema."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from accounts.models import User
from analytics.services.metrics import METRICS
from analytics.tests import metrics_data

pytestmark = pytest.mark.django_db

RANGE = "start=2025-03-10&end=2025-03-12"


@pytest.fixture(autouse=True)
def _business_zone(settings: Any) -> None:
    settings.TIME_ZONE = "America/Mexico_City"


@pytest.fixture
def world() -> metrics_data.World:
    return metrics_data.build()


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def boss() -> Client:
    return client_for(User.objects.create_superuser("jefa", password="x"))


def get(client: Client, name: str, query: str = RANGE, **headers: Any) -> Any:
    return client.get(f"/api/metrics/{name}/?{query}", headers=headers)


def test_every_metric_answers_the_same_shape(world: Any, boss: Client) -> None:
    for name in METRICS:
        response = get(boss, name)
        assert response.status_code == 200, name
        data = response.json()
        assert set(data) == {"metric", "title", "note", "filters", "columns", "rows", "summary", "chart", "figures"}
        assert data["metric"] == name
        assert data["filters"] == {
            "start": "2025-03-10",
            "end": "2025-03-12",
            "channel": None,
            "role": None,
            "number": None,
            "time_zone": "America/Mexico_City",
        }
        labels = [data["chart"]["label"]] if isinstance(data["chart"]["label"], str) else data["chart"]["label"]
        assert set(labels) <= set(data["columns"]), name
        assert all(len(row) == len(data["columns"]) for row in data["rows"]), name


def test_json_rows_are_the_metric(world: Any, boss: Client) -> None:
    data = get(boss, "messages_per_day").json()
    assert data["rows"] == [["2025-03-10", 6, 7], ["2025-03-11", 3, 2], ["2025-03-12", 2, 4]]
    assert data["title"] == "Mensajes por día"  # Spanish by default
    english = get(boss, "messages_per_day", headers={"Cookie": "django_language=en"})
    assert english.status_code == 200


def test_filters_reach_the_metric(world: Any, boss: Client) -> None:
    by_channel = get(boss, "directions", f"{RANGE}&channel={world.soporte.pk}").json()
    assert [row[2] for row in by_channel["rows"]] == [5, 6]  # Caro: 5 in, 6 out
    assert by_channel["filters"]["channel"] == world.soporte.pk
    by_role = get(boss, "directions", f"{RANGE}&role={world.role_ventas.pk}").json()
    assert [row[2] for row in by_role["rows"]] == [4, 5]  # Ana
    by_number = get(boss, "directions", f"{RANGE}&number=%2B52 1555-000-2222").json()
    assert [row[2] for row in by_number["rows"]] == [2, 2]  # Beto; "+", spaces and dashes dropped
    assert by_number["filters"]["number"] == "5215550002222"


def test_default_range_is_the_last_30_days_in_business_time(world: Any, boss: Client) -> None:
    data = get(boss, "messages_per_day", "").json()
    today = timezone.localdate(timezone=metrics_data.ZONE)
    assert data["filters"]["end"] == today.isoformat()
    assert data["filters"]["start"] == (today - timedelta(days=29)).isoformat()
    assert len(data["rows"]) == 30


def test_an_agent_sees_only_the_chats_of_their_roles(world: Any) -> None:
    agent = User.objects.create_user("marta", password="x")
    agent.roles.add(world.role_atencion)
    client = client_for(agent)
    assert [row[2] for row in get(client, "directions").json()["rows"]] == [2, 2]  # Beto only
    assert [row[0] for row in get(client, "top_numbers").json()["rows"]] == ["5215550002222"]
    # Asking for another role narrows further, never widens: nothing.
    other = get(client, "directions", f"{RANGE}&role={world.role_ventas.pk}").json()
    assert [row[2] for row in other["rows"]] == [0, 0]
    # With "take chats without a role", Caro's chat (no role) joins.
    agent.user_permissions.add(
        Permission.objects.get(content_type__app_label="conversations", codename="take_unrouted_conversations")
    )
    assert [row[2] for row in get(client_for(agent), "directions").json()["rows"]] == [7, 8]


def test_see_every_chat_and_superusers_see_all(world: Any, boss: Client) -> None:
    viewer = User.objects.create_user("elena", password="x")
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="conversations", codename="view_all_conversations")
    )
    for client in (client_for(viewer), boss):
        assert [row[2] for row in get(client, "directions").json()["rows"]] == [11, 13]


def test_an_agent_without_roles_sees_nothing(world: Any) -> None:
    client = client_for(User.objects.create_user("nadie", password="x"))
    data = get(client, "messages_per_day").json()
    assert data["rows"] == [["2025-03-10", 0, 0], ["2025-03-11", 0, 0], ["2025-03-12", 0, 0]]


def test_login_required(world: Any) -> None:
    assert Client().get(f"/api/metrics/directions/?{RANGE}").status_code in (401, 403)
    assert Client().get("/api/metrics/").status_code in (401, 403)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2025-13-01", "start"),
        ("start=ayer", "start"),
        ("start=2025-03-12&end=2025-03-10", "start"),
        ("start=2024-01-01&end=2025-03-12", "start"),  # more than 366 days
        ("channel=abc", "channel"),
        ("channel=0", "channel"),
        ("channel=999999", "channel"),
        ("role=abc", "role"),
        ("role=999999", "role"),
        ("number=12ab", "number"),
        ("number=12", "number"),
        ("format=xml", "format"),
    ],
)
def test_bad_filters_get_a_clear_400(world: Any, boss: Client, query: str, field: str) -> None:
    response = get(boss, "messages_per_day", query)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert body[field][0]  # a sentence saying what is wrong


def test_bad_filter_messages_are_readable(world: Any, boss: Client) -> None:
    assert get(boss, "directions", "channel=999999").json() == {"channel": ["Canal desconocido."]}
    assert get(boss, "directions", "start=2025-03-12&end=2025-03-10").json() == {
        "start": ["El inicio no puede ser posterior al final."]
    }


def read_csv(response: Any) -> list[list[str]]:
    body = response.content
    assert body.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the BOM
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_has_the_same_columns_and_rows(world: Any, boss: Client) -> None:
    response = get(boss, "messages_per_day", f"{RANGE}&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="messages_per_day-20250310-20250312.csv"'
    assert read_csv(response) == [
        ["day", "inbound", "outbound"],
        ["2025-03-10", "6", "7"],
        ["2025-03-11", "3", "2"],
        ["2025-03-12", "2", "4"],
    ]
    # Accept: text/csv asks for the same file.
    by_header = get(boss, "messages_per_day", RANGE, Accept="text/csv")
    assert read_csv(by_header) == read_csv(response)


def test_csv_keeps_accents_and_is_safe_against_formulas(world: Any, boss: Client) -> None:
    roles = read_csv(get(boss, "conversations_by_role", f"{RANGE}&format=csv"))
    assert ["Atención", "1"] in roles
    contact = world.caro.contact
    contact.alias = '=HYPERLINK("http://x","clic")'
    contact.save()
    rows = read_csv(get(boss, "top_numbers", f"{RANGE}&format=csv"))
    assert rows[1][:3] == ["5215550003333", '\'=HYPERLINK("http://x","clic")', "11"]


def test_metric_list(world: Any, boss: Client) -> None:
    results = boss.get("/api/metrics/").json()["results"]
    assert [r["metric"] for r in results] == list(METRICS)
    assert results[0]["url"] == "/api/metrics/messages_per_day/"


def test_openapi_schema_documents_every_metric(boss: Client) -> None:
    schema = boss.get("/api/schema/?format=json").json()
    for name in METRICS:
        operation = schema["paths"][f"/api/metrics/{name}/"]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {"start", "end", "channel", "role", "number", "format"}
        assert "400" in operation["responses"]
