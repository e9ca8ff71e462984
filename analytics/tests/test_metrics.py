"""Every metric on the fixed data of metrics_data.py, against numbers counted by hand (see its docstring).

The expected values are written out here, message by message, not computed again by a query. Each test
runs three times: with every message read from the message table, with the summary tables counting the
first half of the ids, and with them counting every message (analytics.services.rollup).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Max, Min
from django.utils import translation

from accounts.models import User
from analytics.services import metrics
from analytics.services.filters import MetricFilters, Scope
from analytics.services.metrics import metric_compute
from analytics.services.rollup import rollup_catch_up, rollup_high_id
from analytics.tests import metrics_data
from analytics.tests.metrics_data import END, START
from conversations.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _business_zone(settings: Any) -> None:
    settings.TIME_ZONE = "America/Mexico_City"


@pytest.fixture(params=["messages", "half summarised", "summarised"])
def world(request: pytest.FixtureRequest) -> metrics_data.World:
    built = metrics_data.build()
    ids = Message.objects.aggregate(first=Min("pk"), newest=Max("pk"))
    if request.param == "half summarised":
        rollup_catch_up(batch=(ids["first"] + ids["newest"]) // 2, max_batches=1)
        assert 0 < rollup_high_id() < ids["newest"]
    elif request.param == "summarised":
        rollup_catch_up()
        assert rollup_high_id() == ids["newest"]
    return built


@pytest.fixture
def boss() -> User:
    return User.objects.create_superuser("jefa", password="x")


def compute(name: str, user: User, **filters: Any) -> metrics.MetricResult:
    with translation.override("en"):
        return metric_compute(name=name, scope=Scope(user=user, filters=MetricFilters(start=START, end=END, **filters)))


def test_messages_per_day_in_business_days(world: Any, boss: User) -> None:
    result = compute("messages_per_day", boss)
    # Monday: Ana 4 in + 5 out, Caro 2 in + 2 out. Tuesday: Beto's voice note (23:30, Wednesday in UTC)
    # and Luis's answer, Caro's "zzz", failed reply and image. Wednesday: Beto 1 + 1, Caro 1 in + 3 out.
    assert result.columns == ("day", "inbound", "outbound")
    assert result.rows == [["2025-03-10", 6, 7], ["2025-03-11", 3, 2], ["2025-03-12", 2, 4]]
    assert result.summary == {"messages": 24, "per_day": 8.0, "busiest_day": "2025-03-10"}


def test_messages_per_hour_of_the_week(world: Any, boss: User) -> None:
    result = compute("messages_per_hour", boss)
    assert len(result.rows) == 7 * 24
    non_zero = [row for row in result.rows if row[2]]
    assert non_zero == [
        [1, 8, 4],  # Monday 8h: Caro's two unmatched messages and the bot's answers
        [1, 9, 9],  # Monday 9h: Ana's chat
        [2, 12, 3],  # Tuesday 12h: "zzz", the failed reply, the image
        [2, 23, 2],  # Tuesday 23h: Beto's voice note and the answer (Wednesday 5h in UTC)
        [3, 10, 2],  # Wednesday 10h: Beto's second voice note and the failed reply
        [3, 18, 4],  # Wednesday 18h: Caro's question, the AI, the notice, the Chatwoot reply
    ]
    assert result.summary == {"busiest_weekday": 1, "busiest_hour": 9}


def test_directions(world: Any, boss: User) -> None:
    result = compute("directions", boss)
    assert result.rows == [["in", "Inbound", 11], ["out", "Outbound", 13]]
    assert result.summary == {"messages": 24, "inbound_share": 0.4583}  # 11 / 24


def test_message_types(world: Any, boss: User) -> None:
    result = compute("message_types", boss)
    assert result.rows == [
        ["text", "Text", 20],
        ["audio", "Audio", 2],
        ["image", "Image", 1],
        ["system", "System", 1],
    ]


def test_top_numbers(world: Any, boss: User) -> None:
    result = compute("top_numbers", boss)
    assert result.rows == [
        ["5215550003333", "Caro", 11, 5, 6],
        ["5215550001111", "Ana", 9, 4, 5],
        ["5215550002222", "Beto", 4, 2, 2],
    ]


def test_frequent_words_fold_accents_and_drop_stop_words(world: Any, boss: User) -> None:
    result = compute("frequent_words", boss)
    # "granito" twice from Ana's messages and once in her first; "cotizacion" and "marmol" from Beto's
    # transcription, accents folded; "cuánto", "la", "de", "quiero", "una", "hello", "of", "the" are stop words.
    # Caro's "granito" outside the range and the simulator's three are not read.
    assert result.rows == [
        ["granito", 3],
        ["asdf", 1],
        ["asesor", 1],
        ["cotizacion", 1],
        ["countertop", 1],
        ["cubierta", 1],
        ["cuesta", 1],
        ["hola", 1],
        ["marble", 1],
        ["marmol", 1],
        ["negro", 1],
        ["precio", 1],
        ["price", 1],
        ["qwerty", 1],
        ["zzz", 1],
    ]
    assert result.summary == {"messages_read": 9, "read_limit": 5000, "limited": False}


def test_frequent_words_read_only_the_most_recent_texts(world: Any, boss: User, monkeypatch: Any) -> None:
    monkeypatch.setattr(metrics, "WORDS_SCAN_LIMIT", 2)
    result = compute("frequent_words", boss)
    # The two most recent customer texts: Caro's English question (Wed 18:00) and Beto's transcription
    # (Tue 23:30); the failed voice note and the image have no text and are not counted.
    assert sorted(result.rows) == [["cotizacion", 1], ["countertop", 1], ["marble", 1], ["marmol", 1], ["price", 1]]
    assert result.summary == {"messages_read": 2, "read_limit": 2, "limited": True}


def test_conversations_by_role(world: Any, boss: User) -> None:
    result = compute("conversations_by_role", boss)
    # Dora (Ventas) wrote only before the range.
    assert result.rows == [["Atención", 1], ["Ventas", 1], ["Without a role", 1]]
    assert result.summary == {"conversations": 3}


def test_conversations_by_status(world: Any, boss: User) -> None:
    result = compute("conversations_by_status", boss)
    assert result.rows == [
        ["bot", "Bot (rules)", 1],
        ["ai", "AI", 0],
        ["human", "Human agent", 1],
        ["closed", "Closed", 1],
    ]


def test_reply_origins(world: Any, boss: User) -> None:
    result = compute("reply_origins", boss)
    # Bot: Ana's menu and hand-off notice, Caro's three "No entendí". AI: Caro's answer. Human: Luis's three
    # replies to Ana and two to Beto, and the reply typed in Chatwoot. The system notice is no reply.
    assert result.rows == [["bot", "Bot (rules)", 5], ["ai", "AI", 1], ["human", "Human agent", 6]]
    assert result.summary == {"replies": 12, "bot_share": 0.4167, "ai_share": 0.0833, "human_share": 0.5}


def test_first_response(world: Any, boss: User) -> None:
    result = compute("first_response", boss)
    # 5 min (Ana, from "asesor"), 10 min (Ana, from "precio"), 2 min and 5 min (Beto); Luis's follow-up
    # at 9:21 is not a response. Sorted 120, 300, 300, 600 s: median = 2nd, p90 = 4th (nearest rank).
    assert result.rows == [
        ["lt_1m", "< 1 min", 0],
        ["1_5m", "1-5 min", 1],
        ["5_15m", "5-15 min", 3],
        ["15_60m", "15-60 min", 0],
        ["1_4h", "1-4 h", 0],
        ["gt_4h", "> 4 h", 0],
    ]
    assert result.summary == {"responses": 4, "median_seconds": 300, "p90_seconds": 600}


def test_resolution(world: Any, boss: User) -> None:
    result = compute("resolution", boss)
    # Ana 1 h, Beto 11 h 30 min; the closings before and after the range and the simulator's are left out.
    assert [row[2] for row in result.rows] == [0, 0, 1, 1, 0, 0]
    assert result.summary == {"closings": 2, "median_seconds": 3600, "p90_seconds": 41400}


def test_ai_answers(world: Any, boss: User) -> None:
    result = compute("ai_answers", boss)
    assert result.rows == [["2025-03-10", 0, 0, 0], ["2025-03-11", 2, 1, 1], ["2025-03-12", 1, 0, 0]]
    assert result.summary == {
        "answers": 3,
        "fallbacks": 1,
        "fallback_rate": 0.3333,
        "cached": 1,
        "cache_hit_rate": 0.3333,
    }


def test_transcriptions(world: Any, boss: User) -> None:
    result = compute("transcriptions", boss)
    assert result.rows == [
        ["done", "", "Done", 1],
        ["failed", "corrupt", "Failed: the file could not be read", 1],
    ]
    assert result.summary == {"voice_notes": 2, "transcribed": 1, "failed": 1, "failure_rate": 0.5}


def test_delivery_failures(world: Any, boss: User) -> None:
    result = compute("delivery_failures", boss)
    assert result.rows == [["131026", "Message undeliverable", 1], ["131047", "Re-engagement message", 1]]
    assert result.summary == {"failed": 2, "outbound": 13, "failure_rate": 0.1538}  # 2 / 13


def test_unmatched_by_step(world: Any, boss: User) -> None:
    result = compute("unmatched_by_step", boss)
    assert result.rows == [["menu_principal", 2], ["cotizacion", 1]]
    assert result.summary == {"unmatched": 3, "inbound": 11, "unmatched_rate": 0.2727}  # 3 / 11


def test_filters_narrow_every_metric(world: Any, boss: User) -> None:
    # The Soporte number: Caro's chat only.
    by_channel = compute("messages_per_day", boss, channel_id=world.soporte.pk)
    assert by_channel.rows == [["2025-03-10", 2, 2], ["2025-03-11", 2, 1], ["2025-03-12", 1, 3]]
    # The Ventas role: Ana's chat only (Dora's has no message in the range).
    assert compute("directions", boss, role_id=world.role_ventas.pk).rows == [
        ["in", "Inbound", 4],
        ["out", "Outbound", 5],
    ]
    # Beto's number.
    assert compute("top_numbers", boss, number="5550002222").rows == [["5215550002222", "Beto", 4, 2, 2]]
    assert compute("first_response", boss, number="5550002222").summary == {
        "responses": 2,
        "median_seconds": 120,
        "p90_seconds": 300,
    }
    # One day: Wednesday.
    one_day = Scope(user=boss, filters=MetricFilters(start=END, end=END))
    assert metric_compute(name="messages_per_day", scope=one_day).rows == [["2025-03-12", 2, 4]]


def test_an_empty_range_gives_zero_rows_not_errors(world: Any, boss: User) -> None:
    from datetime import date

    empty = Scope(user=boss, filters=MetricFilters(start=date(2024, 1, 1), end=date(2024, 1, 2)))
    for name, metric in metrics.METRICS.items():
        result = metric_compute(name=name, scope=empty)
        drawn = [result.columns.index(column) for column in metric.chart.values]
        assert [row[i] for row in result.rows for i in drawn if row[i]] == [], name
    assert metric_compute(name="messages_per_day", scope=empty).rows == [["2024-01-01", 0, 0], ["2024-01-02", 0, 0]]
    assert metric_compute(name="first_response", scope=empty).summary == {
        "responses": 0,
        "median_seconds": None,
        "p90_seconds": None,
    }
    assert metric_compute(name="ai_answers", scope=empty).summary["fallback_rate"] is None
    assert metric_compute(name="top_numbers", scope=empty).rows == []
