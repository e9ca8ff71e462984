"""The pipeline runner (manage.py pipeline): woken by the webhook's doorbell, answers with no Celery task."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import load_fixture, wait_for
from conversations import events
from conversations.models import Message
from conversations.services.ingest import RawDelivery, deliveries_record
from conversations.services.runner import PipelineRunner, runner_alive


def _text(n: int, wa_id: str) -> bytes:
    payload = load_fixture("meta", "message__text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = wa_id
    value["messages"][0].update({"id": f"wamid.RUN{n:04d}", "from": wa_id})
    return json.dumps(payload).encode()


@pytest.fixture
def runner(meta_settings: Any, settings: Any) -> Iterator[PipelineRunner]:
    from flows.models import Rule

    settings.DELIVERY_LANES = 2
    Rule.objects.create(step="inicio", input_text="*", response_text="¡Hola!", next_step="inicio")
    stop = threading.Event()
    running = PipelineRunner(stop=stop, wake_every=0.2)
    thread = threading.Thread(target=running.run, name="test-runner")
    thread.start()
    wait_for(runner_alive, message="the runner did not announce itself")
    yield running
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert not events._broadcaster.inline  # the process's events go through the broadcaster thread again


@pytest.mark.django_db(transaction=True)
def test_the_runner_answers_what_the_webhook_stored_without_a_celery_task(
    runner: PipelineRunner, fake_graph: Any, redis_client: Any
) -> None:
    redis_client.delete("celery")
    raws = [RawDelivery("meta", _text(n, f"57300111{n:04d}"), {}, True) for n in range(5)]
    deliveries_record(raws[:2])  # one INSERT of two, as the webhook's group commit does
    for raw in raws[2:]:
        deliveries_record([raw])
    wait_for(lambda: len(fake_graph.sent) == 5, message=lambda: f"{len(fake_graph.sent)} replies sent")
    assert {m["json"]["to"] for m in fake_graph.sent} == {f"57300111{n:04d}" for n in range(5)}
    assert sorted(runner.held) == [0, 1]  # it holds every lane
    assert redis_client.llen("celery") == 0  # no drain, process or flush task
    wait_for(  # the last "sent" writes wait a moment for a turn to ride with, then go on their own
        lambda: set(Message.objects.filter(direction="out").values_list("status", flat=True)) == {"sent"},
        message="the replies were not all recorded sent",
    )


@pytest.mark.django_db(transaction=True)
def test_while_a_runner_lives_a_kick_only_rings_and_its_drain_leaves_the_flags_alone(
    runner: PipelineRunner, fake_graph: Any, redis_client: Any
) -> None:
    from conversations.services.ingest import deliveries_kick, kick_key
    from conversations.services.runner import DOORBELL_KEY

    redis_client.delete("celery")
    commands: list[str] = []

    def read(monitor: Any) -> None:
        for command in monitor.listen():
            commands.append(command["command"])
            if "end-of-test" in command["command"]:
                return

    with redis_client.monitor() as monitor:  # what the runner's thread and the kick send to Redis
        reader = threading.Thread(target=read, args=(monitor,), daemon=True)
        reader.start()
        deliveries_record([RawDelivery("meta", _text(n, f"57300222{n:04d}"), {}, True) for n in range(3)])
        wait_for(lambda: len(fake_graph.sent) == 3, message=lambda: f"{len(fake_graph.sent)} replies sent")
        deliveries_kick(lanes=[0, 1])  # the ring alone, in one script
        wait_for(lambda: redis_client.llen(DOORBELL_KEY) == 0, message="the runner did not take the ring")
        redis_client.echo("end-of-test")
        reader.join(10)
        assert not reader.is_alive()
    assert not any(redis_client.exists(kick_key(lane)) for lane in range(2))  # no flag was set
    assert redis_client.llen("celery") == 0
    kick_commands = [c for c in commands if "wia:deliveries:kick" in c and not c.startswith("EVALSHA")]
    assert not [c for c in kick_commands if c.startswith("EXISTS")]  # no check per pass
    assert len(kick_commands) <= 2  # only the heartbeat's clearing (once a second), never once per pass


@pytest.mark.django_db(transaction=True)
def test_a_stopped_runner_withdraws_and_the_webhook_falls_back_to_drain_tasks(
    meta_settings: Any, redis_client: Any, settings: Any
) -> None:
    settings.DELIVERY_LANES = 1
    stop = threading.Event()
    thread = threading.Thread(target=PipelineRunner(stop=stop, wake_every=0.2).run)
    thread.start()
    wait_for(runner_alive, message="the runner did not announce itself")
    stop.set()
    thread.join(10)
    assert not runner_alive()  # it withdrew its announcement on the way out
    redis_client.delete("celery", "wia:deliveries:kick:0")
    deliveries_record([RawDelivery("meta", _text(1, "573001110001"), {}, True)])
    assert redis_client.llen("celery") == 1  # a drain task for the lane: nothing waits for a runner


def _reply_sending() -> Message:
    from conversations.models import Channel, Contact, Conversation

    channel = Channel.objects.get_or_create(provider="meta", external_id="106540352242922", defaults={"name": "V"})[0]
    chat = Conversation.objects.create(
        contact=Contact.objects.create(provider="meta", external_id="573001234567"), channel=channel
    )
    return Message.objects.create(conversation=chat, direction="out", kind="text", text="Hola", status="sending")


@pytest.fixture
def deferring() -> Iterator[None]:
    from conversations.services import outbound

    outbound.sent_records_defer()
    try:
        yield
    finally:
        outbound.sent_records_apply(stop_deferring=True)


@pytest.mark.django_db(transaction=True)
def test_with_no_turn_coming_the_runner_writes_a_sent_record_itself_and_waits_on_for_the_doorbell(
    meta_settings: Any, redis_client: Any, deferring: None
) -> None:
    from conversations.services import outbound
    from conversations.services.runner import DOORBELL_KEY

    reply = _reply_sending()
    redis_client.delete(DOORBELL_KEY)  # rings left by the tests before
    runner = PipelineRunner(wake_every=30.0)
    runner._announced_at = 1e18  # no heartbeat due during the test
    outbound._mark_sent(reply, [], provider_message_id="wamid.SENT1")  # a sender thread's "sent" write
    result: list[Any] = []
    waiting = threading.Thread(target=lambda: result.append(runner._wait(redis_client)))
    waiting.start()
    wait_for(lambda: Message.objects.get(pk=reply.pk).status == "sent", message="the sent write was not applied")
    assert Message.objects.get(pk=reply.pk).provider_message_id == "wamid.SENT1"
    assert waiting.is_alive()  # still waiting for a delivery
    redis_client.lpush(DOORBELL_KEY, "1")
    waiting.join(10)
    assert not waiting.is_alive() and result[0][0] == DOORBELL_KEY.encode()


@pytest.mark.django_db(transaction=True)
def test_a_sent_record_rides_with_the_next_turns_transaction_and_survives_its_rollback(
    meta_settings: Any, settings: Any, fake_graph: Any, deferring: None
) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from conversations.services import bots, outbound
    from conversations.services.ingest import deliveries_drain_locked
    from flows.models import Rule

    settings.DELIVERY_LANES = 1
    Rule.objects.create(step="inicio", input_text="*", response_text="¡Hola!", next_step="inicio")
    reply = _reply_sending()
    outbound._mark_sent(reply, [], provider_message_id="wamid.SENT0")
    with pytest.raises(RuntimeError), outbound.sent_records_with_turn() as write_sent, transaction.atomic():
        write_sent()
        raise RuntimeError("the turn fails")
    assert outbound.sent_records_pending()  # back in the queue, unwritten
    assert Message.objects.get(pk=reply.pk).status == "sending"

    def fail(**_: Any) -> None:
        raise RuntimeError("a bot that fails")

    bots.responder_register("test_fails", fail, -1)
    try:  # the bots' turn rolls back; the message is stored again, pending, and the record with it
        deliveries_record([RawDelivery("meta", _text(1, "573004440001"), {}, True)])
        deliveries_drain_locked(lanes=[0], flags=False, count=False)
    finally:
        bots.responder_unregister("test_fails")
    assert not outbound.sent_records_pending()
    assert Message.objects.get(pk=reply.pk).provider_message_id == "wamid.SENT0"

    reply = Message.objects.get(pk=reply.pk)
    reply.status = "sending"
    reply.save(update_fields=["status"])
    outbound._mark_sent(reply, [], provider_message_id="wamid.SENT2")
    deliveries_record([RawDelivery("meta", _text(2, "573004440002"), {}, True)])
    with CaptureQueriesContext(connection) as queries:
        deliveries_drain_locked(lanes=[0], flags=False, count=False)
    sql = [q["sql"] for q in queries.captured_queries]
    sent = next(i for i, q in enumerate(sql) if q.startswith("UPDATE") and "wamid.SENT2" in str(queries[i]["sql"]))
    inbound = next(i for i, q in enumerate(sql) if q.startswith("INSERT") and "conversations_message" in q)
    begin = max(i for i in range(sent) if sql[i].startswith("BEGIN"))
    commit = min(i for i in range(sent, len(sql)) if sql[i] == "COMMIT")
    assert begin < sent < inbound < commit  # one transaction: the record, then the turn
    stored = Message.objects.get(pk=reply.pk)
    assert (stored.status, stored.provider_message_id) == ("sent", "wamid.SENT2")


@pytest.mark.django_db(transaction=True)
def test_taking_lanes_counts_an_attempt_on_the_delivery_a_dead_holder_was_on_and_draining_counts_none(
    meta_settings: Any, settings: Any, fake_graph: Any
) -> None:
    """A delivery that kills every runner is given up after PIPELINE_MAX_ATTEMPTS takeovers; the
    runner's drain writes no attempt per delivery (one round trip and one commit per message fewer)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.models import DeliveryState, WebhookDelivery
    from flows.models import Rule

    settings.DELIVERY_LANES = 2
    settings.PIPELINE_MAX_ATTEMPTS = 3
    Rule.objects.create(step="inicio", input_text="*", response_text="¡Hola!", next_step="inicio")
    first, second = deliveries_record([RawDelivery("meta", _text(n, f"57300333{n:04d}"), {}, True) for n in range(2)])
    WebhookDelivery.objects.filter(pk=first.pk).update(attempts=3)  # three runners died on it
    running = PipelineRunner(stop=threading.Event())
    running._take_lanes()
    running._stack.close()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.attempts, second.attempts) == (4, 0)  # only the oldest one still received

    from conversations.services.ingest import deliveries_drain_locked

    with CaptureQueriesContext(connection) as queries:
        deliveries_drain_locked(lanes=[0, 1], flags=False, count=False)
    counting = re.compile(r"""^UPDATE .* SET .*[`"]attempts[`"] = .*[`"]attempts[`"] \+ 1""")
    assert not [q["sql"] for q in queries.captured_queries if counting.search(q["sql"])]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == DeliveryState.FAILED and "Gave up after 3 attempts that did not finish" in first.error
    assert second.state == DeliveryState.PROCESSED and len(fake_graph.sent) == 1


@pytest.mark.django_db(transaction=True)
def test_draining_deliveries_marks_the_flow_recognition_paces_itself_by(
    runner: PipelineRunner, fake_graph: Any, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conversations.services import activity
    from conversations.services.activity import ACTIVE_FOR_MS, ACTIVE_KEY

    monkeypatch.setattr(activity, "_marked_at", float("-inf"))  # a test before may have marked just now
    redis_client.delete(ACTIVE_KEY)
    deliveries_record([RawDelivery("meta", _text(1, "573001118888"), {}, True)])
    wait_for(lambda: redis_client.pttl(ACTIVE_KEY) > 0, message="the drain did not mark the flow")
    assert redis_client.pttl(ACTIVE_KEY) <= ACTIVE_FOR_MS  # it stops counting 2 s after the last drain
    wait_for(lambda: len(fake_graph.sent) == 1, message="the reply was not sent")


@pytest.mark.django_db(transaction=True)
def test_the_runner_keeps_its_database_connection_through_quiet_wakes(
    meta_settings: Any, settings: Any, fake_graph: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each quiet wake (no ring for a while, or a heartbeat) drops only a connection that broke or aged
    (WORKER_DB_CONN_MAX_AGE, as in the workers), not one that merely idled: under DB_CONN_MAX_AGE=0
    (the web tier's) every wake paid a new connection (connect, login, session settings)."""
    from django.db.backends.signals import connection_created

    from conversations.services import runner as runner_module

    settings.DELIVERY_LANES = 2
    settings.WORKER_DB_CONN_MAX_AGE = 300
    monkeypatch.setattr(runner_module, "HEARTBEAT_EVERY", 0.02)
    opened: list[Any] = []

    def count(sender: Any, connection: Any, **_: Any) -> None:
        if threading.current_thread().name == "test-runner":
            opened.append(connection)

    connection_created.connect(count, weak=False)
    stop = threading.Event()
    running = PipelineRunner(stop=stop, wake_every=0.02)
    thread = threading.Thread(target=running.run, name="test-runner")
    heartbeats: set[float] = set()
    try:
        thread.start()

        def woke_often() -> bool:
            heartbeats.add(running._announced_at)
            return len(heartbeats) >= 6

        wait_for(woke_often, message="the runner did not wake")
        deliveries_record([RawDelivery("meta", _text(1, "573009990001"), {}, True)])
        wait_for(lambda: Message.objects.filter(direction="out").exists(), message="no answer")
    finally:
        stop.set()
        thread.join(10)
        connection_created.disconnect(count)
    assert not thread.is_alive()
    assert len(opened) == 1


def test_the_pipeline_command_freezes_its_startup_heap_before_the_first_turn(monkeypatch: Any) -> None:
    """A full collection over Django's 160,000 startup objects stopped the runner for about 90 ms at 80 messages/s,
    holding up every reply of the moment; frozen, they are never walked again (whatsapp_ia/heap.py)."""
    import gc
    import signal

    from django.core.management import call_command

    frozen_at_run: list[int] = []
    monkeypatch.setattr(PipelineRunner, "run", lambda self: frozen_at_run.append(gc.get_freeze_count()))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}  # the command sets its own
    gc.unfreeze()
    try:
        call_command("pipeline")
        assert len(frozen_at_run) == 1
        assert frozen_at_run[0] > 10_000  # Django, the apps and the pipeline's modules
    finally:
        gc.unfreeze()  # the test process collects as before
        for sig, handler in handlers.items():
            signal.signal(sig, handler)  # and stops on Ctrl-C or SIGTERM as before
