"""Outbound delivery against the local Graph server: queued first, sent in order, retried, failed with reasons."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conversations.models import Contact, Conversation, Message
from conversations.providers.base import OutboundMessage, OutboundValidationError
from conversations.services import outbound, ratelimit
from conversations.services.outbound import (
    FLUSH_BATCH,
    LOCK_BUSY_RETRY,
    FlushResult,
    _queued,
    _record_sent,
    _record_status,
    conversation_flush_outbound,
    conversation_window_open,
    message_mark_read,
    message_queue_outbound,
)
from whatsapp_ia.locks import conversation_lock

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(open_conversation: Conversation, settings: Any) -> Conversation:
    settings.OUTBOUND_BACKOFF_BASE_SECONDS = 1.0
    settings.OUTBOUND_MAX_ATTEMPTS = 3
    return open_conversation


def queue(conversation: Conversation, **fields: Any) -> Message:
    fields.setdefault("kind", "text")
    return message_queue_outbound(conversation=conversation, outbound=OutboundMessage(to="", **fields))


def test_text_is_stored_queued_then_sent_with_the_provider_id(
    conversation: Conversation, fake_graph: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = queue(conversation, text="Hola Laura")
    assert message.status == "queued"
    assert message.provider_message_id is None
    assert any("flush" in repr(c) or callable(c) for c in callbacks)

    result = conversation_flush_outbound(conversation_id=conversation.pk)
    assert (result.sent, result.failed, result.retry_in) == (1, 0, None)
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.provider_message_id == fake_graph.sent[0]["wamid"]
    body = fake_graph.sent[0]["json"]
    assert body["to"] == "573001112233"
    assert body["text"]["body"] == "Hola Laura"
    assert fake_graph.sent[0]["headers"]["authorization"] == "Bearer TEST"


def test_interactive_and_media_messages_reach_the_graph_in_order(conversation: Conversation, fake_graph: Any) -> None:
    queue(conversation, kind="buttons", text="¿Qué deseas?", buttons=(("cotizar", "Cotizar"), ("asesor", "Asesor")))
    queue(
        conversation,
        kind="list",
        text="Materiales",
        list_button="Ver",
        sections=(("Piedras", (("granito", "Granito", "Negro San Gabriel"), ("cuarzo", "Cuarzo", ""))),),
    )
    queue(conversation, kind="image", media_link="https://example.com/p.jpg", caption="Página 3")
    queue(conversation, kind="template", template_name="recordatorio", template_language="es")
    assert conversation_flush_outbound(conversation_id=conversation.pk).sent == 4
    types = [s["json"]["type"] for s in fake_graph.sent]
    assert types == ["interactive", "interactive", "image", "template"]
    assert fake_graph.sent[0]["json"]["interactive"]["action"]["buttons"][1]["reply"]["title"] == "Asesor"
    assert fake_graph.sent[1]["json"]["interactive"]["action"]["sections"][0]["rows"][0]["description"] == (
        "Negro San Gabriel"
    )
    assert list(Message.objects.order_by("id").values_list("kind", flat=True)) == [
        "buttons",
        "list",
        "image",
        "template",
    ]


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"kind": "buttons", "text": "x", "buttons": (("a", "A"), ("b", "B"), ("c", "C"), ("d", "D"))}, "3"),
        ({"kind": "buttons", "text": "x", "buttons": (("a", "Un título demasiado largo"),)}, "20"),
        ({"kind": "text", "text": ""}, "text"),
        ({"kind": "image"}, "link"),
    ],
)
def test_limits_are_checked_before_anything_is_stored(
    conversation: Conversation, fake_graph: Any, fields: dict, fragment: str
) -> None:
    with pytest.raises(OutboundValidationError) as error:
        queue(conversation, **fields)
    assert fragment in str(error.value)
    assert Message.objects.count() == 0
    assert fake_graph.requests == []


def test_transient_errors_back_off_then_succeed(conversation: Conversation, fake_graph: Any) -> None:
    fake_graph.fail_next(1, http_status=500, code=131000)
    message = queue(conversation, text="Reintento")
    first = conversation_flush_outbound(conversation_id=conversation.pk)
    assert first.sent == 0 and first.retry_in is not None and 0.5 <= first.retry_in <= 2
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error_code) == ("queued", 1, "131000")
    assert message.next_attempt_at > timezone.now()

    # Not due yet: nothing is sent and the wait is reported again.
    assert conversation_flush_outbound(conversation_id=conversation.pk).retry_in > 0
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert conversation_flush_outbound(conversation_id=conversation.pk).sent == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error_message) == ("sent", 2, "")


@pytest.mark.parametrize(("http_status", "code"), [(429, 130429), (400, 131056), (503, 2)])
def test_rate_limit_codes_are_retried(conversation: Conversation, fake_graph: Any, http_status: int, code: int) -> None:
    fake_graph.fail_next(1, http_status=http_status, code=code)
    message = queue(conversation, text="x")
    assert conversation_flush_outbound(conversation_id=conversation.pk).retry_in is not None
    message.refresh_from_db()
    assert message.status == "queued"


def test_giving_up_after_max_attempts(conversation: Conversation, fake_graph: Any) -> None:
    fake_graph.fail_next(10, http_status=500, code=131000)
    message = queue(conversation, text="x")
    for _ in range(3):
        conversation_flush_outbound(conversation_id=conversation.pk)
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 3)
    assert "Something went wrong" in message.error_message


@pytest.mark.parametrize(("code", "words"), [(131047, "Re-engagement"), (131026, "undeliverable")])
def test_permanent_errors_fail_at_once_with_the_providers_reason(
    conversation: Conversation, fake_graph: Any, code: int, words: str
) -> None:
    fake_graph.fail_for("573001112233", n=1, http_status=400, code=code, details="details from Meta")
    failed = queue(conversation, text="uno")
    ok = queue(conversation, text="dos")
    result = conversation_flush_outbound(conversation_id=conversation.pk)
    assert (result.sent, result.failed) == (1, 1)
    failed.refresh_from_db()
    ok.refresh_from_db()
    assert (failed.status, failed.error_code, failed.attempts) == ("failed", str(code), 1)
    assert words.lower() in failed.error_message.lower()
    assert ok.status == "sent"


def test_order_is_kept_behind_a_retry(conversation: Conversation, fake_graph: Any) -> None:
    fake_graph.fail_next(1, http_status=500, code=131000)
    first = queue(conversation, text="primero")
    queue(conversation, text="segundo")
    conversation_flush_outbound(conversation_id=conversation.pk)
    assert fake_graph.sent == []  # "segundo" waits for "primero"
    Message.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    conversation_flush_outbound(conversation_id=conversation.pk)
    assert [s["json"]["text"]["body"] for s in fake_graph.sent] == ["primero", "segundo"]


def test_outside_the_24_hour_window_only_templates_go_out(conversation: Conversation, fake_graph: Any) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))
    conversation.refresh_from_db()
    assert not conversation_window_open(conversation)
    text = queue(conversation, text="Hola de nuevo")
    queue(conversation, kind="template", template_name="seguimiento")
    result = conversation_flush_outbound(conversation_id=conversation.pk)
    assert (result.sent, result.failed) == (1, 1)
    text.refresh_from_db()
    assert text.status == "failed" and "24-hour" in text.error_message
    assert [s["json"]["type"] for s in fake_graph.sent] == ["template"]


def test_network_errors_are_transient(conversation: Conversation, settings: Any) -> None:
    settings.META_GRAPH_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.PROVIDER_HTTP_TIMEOUT = 1
    message = queue(conversation, text="x")
    assert conversation_flush_outbound(conversation_id=conversation.pk).retry_in is not None
    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 1


def test_mark_read(conversation: Conversation, fake_graph: Any) -> None:
    inbound = Message.objects.create(
        conversation=conversation,
        direction="in",
        kind="text",
        text="hola",
        provider="meta",
        provider_message_id="wamid.IN1",
    )
    message_mark_read(message=inbound)
    assert fake_graph.read_marks[0]["json"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN1",
    }


def test_a_flush_that_finds_its_conversation_busy_comes_back_instead_of_ending(
    conversation: Conversation, fake_graph: Any
) -> None:
    # The worker holding the lock may have read its batch before this message committed.
    message = queue(conversation, text="Hola")
    with conversation_lock("out", conversation.pk) as held:
        assert held
        busy = conversation_flush_outbound(conversation_id=conversation.pk)
    assert busy == FlushResult(retry_in=LOCK_BUSY_RETRY, busy=True)
    assert fake_graph.sent == []
    assert conversation_flush_outbound(conversation_id=conversation.pk).sent == 1
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_batch_longer_than_one_read_goes_out_whole_and_in_order(
    conversation: Conversation, fake_graph: Any, settings: Any
) -> None:
    settings.OUTBOUND_PAIR_INTERVAL_SECONDS = 0  # no per-customer limit here
    texts = [f"Parte {n}" for n in range(FLUSH_BATCH * 2 + 3)]
    for text in texts:
        queue(conversation, text=text)
    assert conversation_flush_outbound(conversation_id=conversation.pk).sent == len(texts)
    assert [s["json"]["text"]["body"] for s in fake_graph.sent] == texts


def test_sent_never_moves_the_ticks_back(conversation: Conversation) -> None:
    # A status webhook (after a resend by the sweeper) may have moved the message on before this write.
    message = queue(conversation, text="x")
    delivered_at = timezone.now() - timedelta(seconds=3)
    Message.objects.filter(pk=message.pk).update(status="delivered", sent_at=delivered_at, error_message="old")
    _record_sent(message.pk, provider_message_id="wamid.LATE", now=timezone.now())
    message.refresh_from_db()
    assert (message.status, message.provider_message_id, message.error_message) == ("delivered", "wamid.LATE", "")
    assert message.sent_at == delivered_at

    other = queue(conversation, text="y")
    _record_status(other.pk, status="sending", attempts=1, now=timezone.now())
    other.refresh_from_db()
    assert (other.status, other.attempts) == ("sending", 1)
    now = timezone.now()
    _record_sent(other.pk, provider_message_id="wamid.OK", now=now)
    other.refresh_from_db()
    assert (other.status, other.provider_message_id, other.sent_at) == ("sent", "wamid.OK", now)
    assert other.updated_at == now


def test_a_customer_at_the_pair_limit_waits_without_another_redis_round_trip(
    conversation: Conversation, fake_graph: Any, settings: Any, monkeypatch: Any
) -> None:
    settings.OUTBOUND_PAIR_INTERVAL_SECONDS, settings.OUTBOUND_PAIR_BURST = 6.0, 2
    calls: list[str] = []
    real = ratelimit.take_then_reserve
    monkeypatch.setattr(ratelimit, "take_then_reserve", lambda **kw: calls.append(kw["bucket_key"]) or real(**kw))
    for n in range(4):
        queue(conversation, text=f"Mensaje {n}")
    result = conversation_flush_outbound(conversation_id=conversation.pk)
    assert result.sent == 2 and 5 < result.retry_in <= 6  # the burst of two, then the pair interval
    assert len(calls) == 2  # the second send said the bucket was empty: the third was not asked for
    assert [s["json"]["text"]["body"] for s in fake_graph.sent] == ["Mensaje 0", "Mensaje 1"]


def test_the_prepared_read_of_queued_messages_matches_the_orm(conversation: Conversation) -> None:
    first, second = (
        queue(conversation, text="uno"),
        queue(conversation, kind="image", media_link="https://x.test/a.jpg"),
    )
    other = Contact.objects.create(provider="meta", external_id="573009998877", profile_name="Otro")
    queue(
        Conversation.objects.create(contact=other, channel=conversation.channel, last_inbound_at=timezone.now()),
        text="otra",
    )
    Message.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    rows = _queued(conversation.pk)
    expected = list(
        Message.objects.filter(conversation=conversation, direction="out", status="queued").order_by("created_at", "id")
    )
    assert [m.pk for m in rows] == [m.pk for m in expected] == [first.pk, second.pk]
    for got, want in zip(rows, expected, strict=True):
        assert (got.data, got.created_at, got.next_attempt_at, got.kind) == (
            want.data,
            want.created_at,
            want.next_attempt_at,
            want.kind,
        )
    assert rows[0].created_at.tzinfo is not None and isinstance(rows[0].data, dict)
    assert rows[1].media_original_url == "https://x.test/a.jpg"  # a field not read up front loads on access


def test_a_send_that_cannot_get_into_the_window_goes_back_to_the_queue_untouched(
    conversation: Conversation, fake_graph: Any, settings: Any, monkeypatch: Any
) -> None:
    settings.OUTBOUND_NUMBER_LIMIT_PER_SECOND = 3  # a window of 2 sends per second
    monkeypatch.setattr(outbound, "MAX_PACING_SLEEP", 0.05)
    for _ in range(2):  # other workers sent just now and have their answers
        _, entry = ratelimit.window_enter(key=ratelimit.window_key(conversation.channel_id), limit=2, hold=30)
        ratelimit.window_answered(entry)
    message = queue(conversation, text="Hola")
    result = conversation_flush_outbound(conversation_id=conversation.pk)
    assert result.sent == 0 and 0 < result.retry_in <= 1.0  # until the others leave the window
    assert fake_graph.sent == []
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 0)


@pytest.mark.parametrize("answer", ["accepted", "refused"])
def test_a_send_stays_in_the_window_a_second_after_its_answer(
    answer: str, conversation: Conversation, fake_graph: Any, settings: Any, redis_client: Any
) -> None:
    if answer == "refused":
        fake_graph.fail_next(http_status=400, code=131026, message="Message undeliverable")
    message = queue(conversation, text="Hola")
    before = time.time()
    conversation_flush_outbound(conversation_id=conversation.pk)
    after = time.time()
    message.refresh_from_db()
    assert message.status == ("sent" if answer == "accepted" else "failed")
    key = f"wia:rl:{ratelimit.window_key(conversation.channel_id)}"
    [(_, score)] = redis_client.zrange(key, 0, -1, withscores=True)
    assert before <= score <= after  # the answer's time, not "in flight" (start + hold)
    assert redis_client.pttl(key) > settings.PROVIDER_HTTP_TIMEOUT * 2 * 1000


# --------------------------------------------------------------------------- replies sent by the turn's worker


def test_a_turns_replies_are_claimed_and_sent_in_order_after_the_commit(
    conversation: Conversation, fake_graph: Any, redis_client: Any
) -> None:
    redis_client.delete("celery")
    with outbound.sends_here() as turns:
        first, second = queue(conversation, text="uno"), queue(conversation, text="dos")
    assert (first.status, second.status) == ("sending", "sending")  # claimed by this worker at once
    outbound.turn_sends_deliver(turns[conversation.pk])
    assert [s["json"]["text"]["body"] for s in fake_graph.sent] == ["uno", "dos"]
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert redis_client.llen("celery") == 0  # no flush task


def test_a_turn_behind_a_queued_reply_leaves_its_own_to_the_flush_in_order(
    conversation: Conversation, fake_graph: Any
) -> None:
    older = queue(conversation, text="antes")  # queued by someone else, not sent yet
    with outbound.sends_here() as turns:
        reply = queue(conversation, text="después")
    assert reply.status == "queued"  # not claimed: it would overtake "antes"
    outbound.turn_sends_deliver(turns[conversation.pk])
    assert fake_graph.sent == []
    conversation_flush_outbound(conversation_id=conversation.pk)
    assert [s["json"]["text"]["body"] for s in fake_graph.sent] == ["antes", "después"]
    assert older.pk < reply.pk


def test_a_flush_waits_behind_an_older_reply_another_worker_is_sending(
    conversation: Conversation, fake_graph: Any
) -> None:
    with outbound.sends_here() as turns:
        queue(conversation, text="del bot")  # claimed by the pipeline's worker, not sent yet
    queue(conversation, text="del asesor")  # an agent writes meanwhile
    result = conversation_flush_outbound(conversation_id=conversation.pk)
    assert result.retry_in == outbound.IN_FLIGHT_RETRY and fake_graph.sent == []
    outbound.turn_sends_deliver(turns[conversation.pk])
    conversation_flush_outbound(conversation_id=conversation.pk)
    assert [s["json"]["text"]["body"] for s in fake_graph.sent] == ["del bot", "del asesor"]


def test_a_claimed_reply_that_meets_a_provider_error_goes_back_to_the_queue_with_the_rest(
    conversation: Conversation, fake_graph: Any
) -> None:
    fake_graph.fail_next(1, http_status=500, code=131000)
    with outbound.sends_here() as turns:
        first, second = queue(conversation, text="uno"), queue(conversation, text="dos")
    outbound.turn_sends_deliver(turns[conversation.pk])
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts) == ("queued", 1) and first.next_attempt_at is not None
    assert (second.status, second.attempts) == ("queued", 0)
    Message.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    conversation_flush_outbound(conversation_id=conversation.pk)
    assert [s["json"]["text"]["body"] for s in fake_graph.sent] == ["uno", "dos"]


def test_a_reply_stored_as_data_is_what_asdict_gives_and_comes_back_whole() -> None:
    import dataclasses

    components = ({"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},)
    message = OutboundMessage(
        kind="template", to="573001112233", text="t", caption="c", header="h", footer="f",
        buttons=(("a", "A"), ("b", "B")), list_button="Ver", sections=(("S", (("1", "Uno", "d"),)),),
        media_link="https://x/y.png", voice=True, template_name="hola", template_language="es_CO",
        template_components=components, reply_to="wamid.9", preview_url=True, callback_data="wia:7",
    )  # fmt: skip
    data = outbound.outbound_to_data(message)
    assert data == dataclasses.asdict(message)
    assert data["template_components"][0] is not components[0]  # the template's dicts are copies
    data["template_components"][0]["parameters"].append({"type": "text", "text": "x"})
    assert len(components[0]["parameters"]) == 1
    assert outbound.outbound_from_data(data | {"template_components": components}) == message
