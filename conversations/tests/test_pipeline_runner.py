"""The pipeline runner (manage.py pipeline): woken by the webhook's doorbell, answers with no Celery task."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import load_fixture, wait_for
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
    assert set(Message.objects.filter(direction="out").values_list("status", flat=True)) == {"sent"}


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
