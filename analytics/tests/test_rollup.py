"""The dashboard's summary tables (analytics.services.rollup): what a pass writes, that passes can be repeated,
that late commits and time-zone changes are handled, and the command. Every metric on summarised data is
checked against hand-counted values in test_metrics.py (its ``world`` fixture runs with and without them)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Max, Min

from accounts.models import User
from analytics.models import ChatHour, ChatHourKind, FirstResponse, RollupMark
from analytics.services import rollup
from analytics.services.filters import MetricFilters, Scope
from analytics.services.metrics import metric_compute
from analytics.services.replies import first_response_times
from analytics.services.rollup import rollup_all, rollup_catch_up, rollup_high_id
from analytics.services.words import MIN_LENGTH, STOP_WORDS, words_of
from analytics.tests import metrics_data
from analytics.tests.metrics_data import END, START, at, message
from conversations.models import Message
from whatsapp_ia.text import normalize_text

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _business_zone(settings: Any) -> None:
    settings.TIME_ZONE = "America/Mexico_City"


@pytest.fixture
def world() -> metrics_data.World:
    return metrics_data.build()


def hour_rows() -> list[tuple]:
    return sorted(
        ChatHour.objects.values_list(
            "conversation_id", "channel_id", "day", "hour", "inbound", "outbound", "replies_bot", "replies_ai",
            "replies_human",
        )
    )  # fmt: skip


def kind_rows() -> list[tuple]:
    return sorted(ChatHourKind.objects.values_list("conversation_id", "day", "hour", "kind", "messages"))


def test_a_pass_counts_each_chat_hour_in_business_time(world: metrics_data.World) -> None:
    report = rollup_catch_up()
    newest = Message.objects.aggregate(newest=Max("pk"))["newest"]
    assert report.high_id == newest == rollup_high_id()
    ana = {(row[2].isoformat(), row[3]): row[4:] for row in hour_rows() if row[0] == world.ana.pk}
    # Monday 9h (Mexico City): 4 in; 5 out: the bot's menu and hand-off notice, Luis's three replies.
    assert ana == {("2025-03-10", 9): (4, 5, 2, 0, 3)}
    beto = {(row[2].isoformat(), row[3]): row[4:] for row in hour_rows() if row[0] == world.beto.pk}
    # Tuesday 23:30 business time is Wednesday in UTC: counted on Tuesday.
    assert beto[("2025-03-11", 23)] == (1, 1, 0, 0, 1)
    kinds = {(row[1].isoformat(), row[2], row[3]): row[4] for row in kind_rows() if row[0] == world.beto.pk}
    assert kinds[("2025-03-11", 23, "audio")] == 1
    assert all(row[1] == world.ana.channel_id for row in hour_rows() if row[0] == world.ana.pk)


def test_passes_can_be_repeated_and_cut_anywhere(world: metrics_data.World, monkeypatch: Any) -> None:
    rollup_catch_up()
    once = (hour_rows(), kind_rows(), sorted(FirstResponse.objects.values_list("message_id", "wait")))
    RollupMark.objects.update(high_id=0)  # read everything again
    rollup_catch_up()
    assert (hour_rows(), kind_rows(), sorted(FirstResponse.objects.values_list("message_id", "wait"))) == once
    ChatHour.objects.all().delete()
    ChatHourKind.objects.all().delete()
    first = Message.objects.order_by("pk").values_list("pk", flat=True).first()
    RollupMark.objects.update(high_id=first - 1)  # ids do not start at 1 on every database
    monkeypatch.setattr(rollup, "CATCH_UP_OVERLAP", 1)
    for _ in range(40):  # passes of three ids, one read again: chats and hours split across passes
        rollup_catch_up(batch=3, max_batches=1)
    assert hour_rows() == once[0]
    assert kind_rows() == once[1]


def test_first_responses_are_those_computed_from_the_messages(world: metrics_data.World) -> None:
    rollup_catch_up()
    computed = first_response_times(Message.objects.all()).values_list("pk", "wait")
    recorded = FirstResponse.objects.values_list("message_id", "wait")
    assert sorted(recorded) == sorted(computed)
    assert len(recorded) == 4  # Luis to Ana twice, to Beto twice (see metrics_data)


def test_a_message_that_commits_late_below_the_mark_is_counted_by_the_overlap(world: metrics_data.World) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one writer at a time: its ids become visible in order, nothing commits late")
    rollup_catch_up()
    late = message(world.caro, "in", at(12, 18, 30), "llegó tarde")
    # As if a pass had already read past its id while its transaction was still open.
    RollupMark.objects.update(high_id=late.pk + 5)
    assert rollup_high_id() == late.pk + 5
    before = ChatHour.objects.get(conversation=world.caro, day="2025-03-12", hour=18).inbound
    rollup_catch_up()
    assert ChatHour.objects.get(conversation=world.caro, day="2025-03-12", hour=18).inbound == before + 1


def test_messages_newer_than_the_mark_are_read_directly(world: metrics_data.World) -> None:
    boss = User.objects.create_superuser("jefa", password="x")
    rollup_catch_up()
    message(world.caro, "in", at(12, 18, 30), "otra pregunta")
    scope = Scope(user=boss, filters=MetricFilters(start=START, end=END))
    assert metric_compute(name="directions", scope=scope).summary["messages"] == 25  # 24 summarised + 1 new
    assert ChatHour.objects.filter(day="2025-03-12", hour=18).values_list("inbound", flat=True).get() == 1


def test_a_new_time_zone_counts_everything_again(world: metrics_data.World, settings: Any) -> None:
    rollup_catch_up()
    assert ChatHour.objects.filter(conversation=world.beto, day="2025-03-11", hour=23).exists()
    settings.TIME_ZONE = "UTC"
    assert rollup_high_id() == 0  # the summaries were cut in another zone: the dashboard reads the messages
    rollup_catch_up()
    assert RollupMark.objects.get().zone == "UTC"
    # Tuesday 23:30 in Mexico City is Wednesday 05:30 UTC.
    assert ChatHour.objects.filter(conversation=world.beto, day="2025-03-12", hour=5).exists()
    assert not ChatHour.objects.filter(conversation=world.beto, day="2025-03-11", hour=23).exists()


def test_deleting_a_chat_deletes_its_summaries(world: metrics_data.World) -> None:
    rollup_catch_up()
    assert ChatHour.objects.filter(conversation=world.ana).exists()
    world.ana.delete()
    assert not ChatHour.objects.filter(conversation_id=world.ana.pk).exists()
    assert not ChatHourKind.objects.filter(conversation_id=world.ana.pk).exists()
    assert not FirstResponse.objects.filter(conversation_id=world.ana.pk).exists()


def test_the_command_counts_with_progress_and_rebuilds(world: metrics_data.World) -> None:
    out = StringIO()
    call_command("dashboard_rollup", stdout=out)
    newest = Message.objects.aggregate(newest=Max("pk"))["newest"]
    assert f"up to id {newest:,} of {newest:,} (100 %)" in out.getvalue()
    counted = hour_rows()
    Message.objects.filter(conversation=world.caro, text="zzz").delete()  # by hand: the summaries stay behind
    assert hour_rows() == counted
    out = StringIO()
    call_command("dashboard_rollup", "--rebuild", stdout=out)
    assert "Summaries count every message up to id" in out.getvalue()
    assert sum(row[4] for row in hour_rows()) == sum(row[4] for row in counted) - 1


def test_rollup_all_without_messages_does_nothing() -> None:
    assert rollup_all().messages == 0
    assert rollup_high_id() == 0


def test_words_are_those_of_the_folded_text() -> None:
    """words_of folds a token at a time: the words are those of the whole text folded."""
    for text in (
        "¿Cuánto cuesta el mesón de GRANITO?",
        "hola😀 quiero\u00a0precio!!",
        "\uff26\uff55\uff4c\uff4c width \ufb01le \u0130stanbul",  # fullwidth letters, a ligature, dotted I
        "m² 2x3...precio,costo",
        "a\tb\nmármol—negro",
        "x_y z-w l'eau «cotización»",
    ):
        expected = [
            w
            for w in normalize_text(text).split()
            if len(w) >= MIN_LENGTH and w not in STOP_WORDS and any(ch.isalpha() for ch in w)
        ]
        assert words_of(text) == expected


def test_a_batch_is_counted_again_when_another_pass_moved_the_mark_meanwhile(
    world: metrics_data.World, monkeypatch: Any
) -> None:
    """A batch is counted outside the write transaction; if another pass wrote rows that count more messages
    meanwhile, this batch's rows (which count fewer) must not replace them."""
    newest = Message.objects.aggregate(newest=Max("pk"))["newest"]
    real_count = rollup._count_ids
    calls: list[int] = []

    def count_while_another_pass_runs(low: int, high: int, *, upto: int, zone: Any) -> Any:
        counted = real_count(low, high, upto=upto, zone=zone)
        if not calls:
            RollupMark.objects.update(high_id=newest + 10)  # the other pass counted up to a later id
        calls.append(upto)
        return counted

    monkeypatch.setattr(rollup, "_count_ids", count_while_another_pass_runs)
    rollup_catch_up(batch=1_000_000)  # one batch
    assert calls[0] == newest and calls[1] == newest + 10  # counted again with the other pass's mark
    assert rollup_high_id() == newest + 10
    assert sum(row[4] for row in hour_rows()) == Message.objects.filter(direction="in").count()


def test_the_periodic_pass_rests_between_batches_in_proportion(world: metrics_data.World, monkeypatch: Any) -> None:
    """With ``rest``, each batch is followed by a pause of rest x the batch's own time (none after the last)."""
    ticks = iter(range(0, 10_000, 2))  # every clock reading 2 s later: each batch "takes" 2 s
    slept: list[float] = []
    ids = Message.objects.aggregate(first=Min("pk"), newest=Max("pk"))
    monkeypatch.setattr(rollup, "CATCH_UP_OVERLAP", 0)
    RollupMark.objects.create(pk=rollup._MARK_PK, high_id=ids["first"] - 1, zone="America/Mexico_City")
    rollup_catch_up(batch=10, rest=1.5, clock=lambda: next(ticks), sleep=slept.append)
    batches = -(-(ids["newest"] - ids["first"] + 1) // 10)
    assert batches >= 3
    assert slept == [3.0] * (batches - 1)
    assert rollup_high_id() == ids["newest"]


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_reads_in_one_snapshot_without_taking_the_write_lock() -> None:
    """Outside a transaction, a metric's reads are one transaction: REPEATABLE READ on MariaDB, and on SQLite
    a deferred one (Django's own would be IMMEDIATE: the write lock, which the pipeline would wait for)."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.utils import timezone

    from analytics.services.filters import summary_snapshot
    from conversations.models import Contact

    assert not connection.in_atomic_block
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # a writer meanwhile (the pipeline)
    try:
        with summary_snapshot():
            before = Contact.objects.count()
            if connection.vendor == "sqlite":
                assert connection.connection.in_transaction and not connection.in_atomic_block  # begun DEFERRED
            else:
                assert connection.in_atomic_block
            with other.cursor() as cursor:  # autocommitted: not waiting for the dashboard's reads
                cursor.execute(
                    "INSERT INTO conversations_contact (provider, external_id, profile_name, alias, phone, referral,"
                    " created_at, updated_at) VALUES ('meta', '573009990001', '', '', '', '{}', %s, %s)",
                    [other.ops.adapt_datetimefield_value(timezone.now())] * 2,
                )
            assert Contact.objects.count() == before  # one snapshot: REPEATABLE READ, not Django's READ COMMITTED
        assert Contact.objects.count() == before + 1
    finally:
        other.close()
    if connection.vendor == "sqlite":
        assert not connection.connection.in_transaction
    boss = User.objects.create_superuser("jefa", password="x")
    scope = Scope(user=boss, filters=MetricFilters(start=START, end=END))
    assert metric_compute(name="directions", scope=scope).summary["messages"] == 0


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York", "Australia/Adelaide", "Asia/Kathmandu"])
def test_the_summaries_give_the_same_figures_as_the_messages_in_any_time_zone(zone: str, settings: Any) -> None:
    """Quarter-hours map to whole hours of the business's day in every zone (+5:30, +5:45, +10:30, DST): every
    metric, for every kind of user and filter, reads the same with the summaries as from the messages."""
    from analytics.services.metrics import METRICS

    settings.TIME_ZONE = zone
    world = metrics_data.build()
    boss = User.objects.create_superuser("jefa", password="x")
    agent = world.agent
    agent.roles.add(world.role_ventas)
    scopes = [
        Scope(user=boss, filters=MetricFilters(start=START, end=END)),
        Scope(user=boss, filters=MetricFilters(start=START, end=END, channel_id=world.soporte.pk)),
        Scope(user=agent, filters=MetricFilters(start=START, end=END)),
        Scope(user=agent, filters=MetricFilters(start=START, end=END, role_id=world.role_ventas.pk)),
    ]

    def figures() -> list:
        return [(name, metric_compute(name=name, scope=s).rows, metric_compute(name=name, scope=s).summary)
                for s in scopes for name in METRICS]  # fmt: skip

    from_messages = figures()
    assert rollup_high_id() == 0
    rollup_catch_up()
    assert rollup_high_id() > 0
    assert figures() == from_messages
