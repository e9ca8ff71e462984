"""Failures in the inbound pipeline: one bad delivery never stalls its lane; transient errors are retried.

"database is locked" here is real: another SQLite connection takes the write lock
right before the chosen BEGIN of ours (through Django's execute_wrapper hook), with
our connection's busy timeout at 0, so SQLite itself refuses the transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from conftest import database_round_trips, load_fixture
from conversations.models import Conversation, DeliveryState, Message, WebhookDelivery
from conversations.services.ingest import deliveries_drain, delivery_record, delivery_retry

DEEP_BODY = b"[" * 100_000 + b"]" * 100_000  # json.loads raises RecursionError on it

sqlite_only = pytest.mark.skipif(
    "sqlite" not in __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"],
    reason="SQLite's own write lock; MariaDB has row locks",
)


def _text_body(n: int, wa_id: str = "573001112233") -> bytes:
    payload = load_fixture("meta", "message__text")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = f"wamid.FAIL{n:04d}"
    message["from"] = wa_id
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = wa_id
    return json.dumps(payload).encode()


def _two_message_body() -> bytes:
    payload = json.loads(_text_body(1))
    value = payload["entry"][0]["changes"][0]["value"]
    second = json.loads(json.dumps(value["messages"][0]))
    second["id"] = "wamid.FAIL0002"
    second["text"]["body"] = "¿Y el precio?"
    value["messages"].append(second)
    return json.dumps(payload).encode()


@contextmanager
def sqlite_locked_on_begin(should_lock: Callable[[int], bool]) -> Iterator[list[str]]:
    """Make our n-th BEGIN (when should_lock(n)) meet a write lock held by another connection."""
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    begins: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.startswith("BEGIN"):
            return execute(sql, params, many, context)
        begins.append(sql)
        if not should_lock(len(begins)):
            return execute(sql, params, many, context)
        holder.execute("BEGIN IMMEDIATE")
        try:
            return execute(sql, params, many, context)
        finally:
            holder.execute("ROLLBACK")

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 0")
    try:
        with connection.execute_wrapper(wrapper):
            yield begins
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 30000")
        holder.close()


@pytest.fixture
def one_lane(settings: Any, meta_settings: Any, redis_client: Any) -> Iterator[None]:
    settings.DELIVERY_LANES = 1
    settings.PIPELINE_MAX_ATTEMPTS = 3
    redis_client.delete("wia:deliveries:kick:0")
    yield
    redis_client.delete("wia:deliveries:kick:0", "celery")


def _record(body: bytes) -> WebhookDelivery:
    return delivery_record(provider="meta", body=body, headers={}, signature_ok=True)


# --------------------------------------------------------------------------- point 5: isolation


@pytest.mark.django_db
def test_a_delivery_that_raises_is_failed_with_its_reason_and_the_lane_goes_on(one_lane: None) -> None:
    bad = _record(DEEP_BODY)
    good = _record(_text_body(1))
    assert deliveries_drain(lane=0) is False
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.state == DeliveryState.FAILED
    assert bad.error.startswith("RecursionError: maximum recursion depth exceeded")
    assert bad.attempts == 1
    assert bytes(bad.body) == DEEP_BODY  # raw input kept
    assert good.state == DeliveryState.PROCESSED
    assert Message.objects.get(direction="in").provider_message_id == "wamid.FAIL0001"


@pytest.mark.django_db
def test_the_admin_page_of_a_too_deeply_nested_delivery_shows_it_as_text(admin_client: Any, one_lane: None) -> None:
    bad = _record(DEEP_BODY)
    deliveries_drain(lane=0)
    response = admin_client.get(reverse("admin:conversations_webhookdelivery_change", args=[bad.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "[[[[[[[[" in page and "RecursionError" in page


@pytest.mark.django_db
def test_a_delivery_whose_attempts_never_finished_is_given_up_not_retried_forever(one_lane: None) -> None:
    stuck = _record(_text_body(1))
    WebhookDelivery.objects.filter(pk=stuck.pk).update(attempts=3)  # three runs that died mid-way
    assert deliveries_drain(lane=0) is False
    stuck.refresh_from_db()
    assert stuck.state == DeliveryState.FAILED
    assert "Gave up after 3 attempts" in stuck.error
    assert Message.objects.count() == 0


# --------------------------------------------------------------------------- point 6: transient errors


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_partly_stored_delivery_is_parsed_again_and_loses_nothing(one_lane: None) -> None:
    delivery = _record(_two_message_body())
    # Storing opens transactions per message (channel, contact, message): one of them meets the lock.
    with sqlite_locked_on_begin(lambda n: n == 2):
        deliveries_drain(lane=0)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.RETRYING
    assert "database is locked" in delivery.error
    assert delivery.attempts == 1 and delivery.next_attempt_at is not None
    assert Message.objects.filter(direction="in").count() == 1  # one of the two was stored before the lock

    delivery_retry(delivery_id=delivery.pk)  # what the countdown task does
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PROCESSED, delivery.error
    assert delivery.attempts == 2 and delivery.next_attempt_at is None
    assert sorted(Message.objects.filter(direction="in").values_list("provider_message_id", flat=True)) == [
        "wamid.FAIL0001",
        "wamid.FAIL0002",
    ]
    assert Conversation.objects.get().unread_count == 2  # the first message was not stored twice


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_delivery_still_locked_after_the_last_attempt_keeps_the_reason(one_lane: None) -> None:
    delivery = _record(_text_body(1))
    with sqlite_locked_on_begin(lambda n: True):
        deliveries_drain(lane=0)
        delivery_retry(delivery_id=delivery.pk)
        delivery_retry(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 3
    assert delivery.state == DeliveryState.PARTIAL
    assert "Gave up after 3 attempts" in delivery.error and "database is locked" in delivery.error


@pytest.mark.django_db
def test_the_sweeper_picks_up_a_retry_whose_task_was_lost(one_lane: None, redis_client: Any) -> None:
    from conversations.services.sweeper import sweep_stuck

    delivery = _record(_text_body(1))
    later = timezone.now() + timedelta(hours=1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.RETRYING, attempts=1, next_attempt_at=timezone.now(), received_at=timezone.now()
    )
    redis_client.delete("celery")
    assert sweep_stuck(now=timezone.now()).deliveries == 0  # not due yet
    assert sweep_stuck(now=later).deliveries == 1
    assert redis_client.llen("celery") == 1


# ------------------------------------------------------------- processing: retries, give-up, no second reply


@pytest.fixture
def stored_text(meta_settings: Any, settings: Any) -> Iterator[Callable[..., Message]]:
    """Store an inbound text as the drain would, left pending for a worker; the bot has one rule answering it.

    An enrichment step that reads texts (switched off, so it never holds them) is registered meanwhile,
    so each message waits for ``conversation_process`` (as audio and images do) instead of being answered
    as it is stored.
    """
    from conversations.services import bots
    from flows.models import Rule

    settings.PIPELINE_MAX_ATTEMPTS = 3
    Rule.objects.get_or_create(
        step="inicio", input_text="*", defaults={"response_text": "¡Hola!", "next_step": "inicio"}
    )
    bots.enrichment_register(
        "test_reads_texts",
        lambda *, message, path: None,
        1,
        kinds=["text"],
        field="transcription",
        queue="celery",
        availability=lambda: None,
        enabled=lambda: False,
    )

    def store(n: int) -> Message:
        from conversations.services.ingest import delivery_process

        delivery_process(delivery_id=_record(_text_body(n)).pk)
        return Message.objects.get(provider_message_id=f"wamid.FAIL{n:04d}")

    yield store
    bots.enrichment_unregister("test_reads_texts")


def _replies() -> int:
    return Message.objects.filter(direction="out").count()


@pytest.mark.django_db
def test_a_message_another_worker_processed_meanwhile_gets_no_second_reply(stored_text: Any) -> None:
    from conversations.services.processing import message_process

    message = stored_text(1)
    stale = Message.objects.get(pk=message.pk)  # what a second worker read before the first one committed
    message_process(message=message)
    assert _replies() == 1
    message_process(message=stale)
    assert _replies() == 1
    assert Message.objects.get(pk=message.pk).processing_state == "done"


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_processing_that_meets_a_locked_database_is_retried_with_backoff_in_order(stored_text: Any) -> None:
    from conversations.services.processing import conversation_process

    first, second = stored_text(1), stored_text(2)
    t0 = timezone.now()
    with sqlite_locked_on_begin(lambda n: n == 1):  # the first message's processing transaction
        result = conversation_process(conversation_id=first.conversation_id, now=t0)
    first.refresh_from_db()
    assert first.processing_state == "pending" and first.attempts == 1
    assert first.next_attempt_at == t0 + timedelta(seconds=2)
    assert "database is locked" in first.data["processing_error"]
    assert result.retry_in == 2.0 and not result.busy
    assert _replies() == 0
    second.refresh_from_db()
    assert second.processing_state == "pending"  # waits behind the first: order holds

    early = conversation_process(conversation_id=first.conversation_id, now=t0 + timedelta(seconds=1))
    assert early.retry_in == 1.0 and _replies() == 0
    done = conversation_process(conversation_id=first.conversation_id, now=t0 + timedelta(seconds=3))
    assert not done
    assert list(Message.objects.filter(direction="in").values_list("processing_state", flat=True)) == ["done"] * 2
    assert _replies() == 2
    assert not Conversation.objects.get().needs_attention


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_after_the_last_attempt_the_message_is_given_up_and_the_chat_flagged_with_the_reason(
    stored_text: Any,
) -> None:
    from conversations.services.processing import conversation_process

    first, second = stored_text(1), stored_text(2)
    t0 = timezone.now()
    with sqlite_locked_on_begin(lambda n: n <= 3):  # every attempt at the first message
        for minutes in range(3):
            conversation_process(conversation_id=first.conversation_id, now=t0 + timedelta(minutes=minutes))
    first.refresh_from_db()
    assert first.processing_state == "failed" and first.attempts == 3
    conversation = Conversation.objects.get()
    assert conversation.needs_attention
    assert "3" in conversation.attention_reason and "database is locked" in conversation.attention_reason
    second.refresh_from_db()
    assert second.processing_state == "done"  # the conversation goes on
    assert _replies() == 1


mysql_only = pytest.mark.skipif(
    "mysql" not in __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"],
    reason="MariaDB's row lock wait timeout",
)


@mysql_only
@pytest.mark.django_db(transaction=True)
def test_processing_that_waits_too_long_for_the_conversation_row_on_mariadb_is_retried(stored_text: Any) -> None:
    import MySQLdb

    from conversations.services.processing import conversation_process

    first = stored_text(1)
    db = connection.settings_dict
    other = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1", port=int(db["PORT"] or 3306), user=db["USER"], passwd=db["PASSWORD"],
        db=db["NAME"], charset="utf8mb4",
    )  # fmt: skip
    t0 = timezone.now()
    try:
        other.autocommit(False)
        other.cursor().execute(
            "SELECT id FROM conversations_conversation WHERE id = %s FOR UPDATE", [first.conversation_id]
        )  # another worker holds the conversation's row
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        result = conversation_process(conversation_id=first.conversation_id, now=t0)
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 50")
    first.refresh_from_db()
    assert first.processing_state == "pending" and first.attempts == 1
    assert "Lock wait timeout" in first.data["processing_error"]
    assert result.retry_in == 2.0 and _replies() == 0

    assert not conversation_process(conversation_id=first.conversation_id, now=t0 + timedelta(seconds=3))
    first.refresh_from_db()
    assert first.processing_state == "done" and _replies() == 1


@mysql_only
@pytest.mark.django_db(transaction=True)
def test_a_turn_that_waited_for_the_chats_row_asks_its_questions_about_what_the_holder_committed(
    stored_text: Any,
) -> None:
    """The turn's questions ride in the statement that locks the chat's row. On MariaDB a turn that waits
    for that lock must answer them from what the holder committed, not from before the wait: the holder
    here finishes the waiting message and gives it the new message's provider id (as another worker storing
    the same message would), so the turn sees it stored and nothing waiting."""
    import threading

    import MySQLdb

    from conftest import wait_for
    from conversations.services.ingest import _conversation_read_locked

    first = stored_text(1)
    chat = Conversation.objects.select_related("contact").get(pk=first.conversation_id)
    db = connection.settings_dict
    holder = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1", port=int(db["PORT"] or 3306), user=db["USER"], passwd=db["PASSWORD"],
        db=db["NAME"], charset="utf8mb4",
    )  # fmt: skip
    asked: list[Any] = []

    def turn() -> None:
        from django.db import connection as own
        from django.db import transaction

        try:
            with transaction.atomic():
                asked.append(
                    _conversation_read_locked(
                        channel_id=chat.channel_id,
                        provider="meta",
                        external_id=chat.contact.external_id,
                        provider_message_id="wamid.HOLDER0001",
                    )
                )
        finally:
            own.close()

    def waiting() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT STATE, INFO FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE %s",
                ["%wamid.HOLDER0001%FOR UPDATE%"],
            )
            rows = cursor.fetchall()
            return len(rows)

    holder.autocommit(False)
    worker = threading.Thread(target=turn)
    try:
        cursor = holder.cursor()
        cursor.execute("SELECT id FROM conversations_conversation WHERE id = %s FOR UPDATE", [chat.pk])
        worker.start()
        wait_for(waiting, message="the turn never waited for the chat's row")
        cursor.execute(
            "UPDATE conversations_message SET processing_state = 'done', provider_message_id = %s WHERE id = %s",
            ["wamid.HOLDER0001", first.pk],
        )
        holder.commit()
        worker.join(timeout=30)
    finally:
        holder.rollback()
        holder.close()
    assert not worker.is_alive() and len(asked) == 1
    conversation, (stored, inbound_waiting, outbound_waiting) = asked[0]
    assert conversation.pk == chat.pk
    assert (stored, inbound_waiting, outbound_waiting) == (True, False, False)


# --------------------------------------------------------------------------- the turn in the storing transaction


@pytest.fixture
def answering_rule(one_lane: None) -> None:
    from flows.models import Rule

    Rule.objects.create(step="inicio", input_text="*", response_text="¡Hola!", next_step="inicio")


@contextmanager
def responder_raising(exc: BaseException) -> Iterator[None]:
    """A bot (registered before the rules) that raises ``exc`` on its turn."""
    from conversations.services import bots

    def respond(*, conversation: Any, message: Any) -> bool:
        raise exc

    bots.responder_register("test_raises", respond, -1)
    try:
        yield
    finally:
        bots.responder_unregister("test_raises")


@pytest.mark.django_db
def test_a_text_is_stored_answered_and_its_reply_sent_by_the_drain_without_other_tasks(
    answering_rule: None, fake_graph: Any, redis_client: Any
) -> None:
    redis_client.delete("celery")
    _record(_text_body(1))
    assert deliveries_drain(lane=0) is False
    inbound = Message.objects.get(direction="in")
    reply = Message.objects.get(direction="out")
    assert inbound.processing_state == "done"
    assert reply.text == "¡Hola!" and reply.status == "sent" and reply.provider_message_id
    assert [m["json"]["text"]["body"] for m in fake_graph.sent] == ["¡Hola!"]
    assert redis_client.llen("celery") == 0  # no process task, no flush task


@pytest.mark.django_db
def test_a_reply_that_goes_at_once_is_paced_and_counted_in_one_round_trip_to_redis(
    answering_rule: None, fake_graph: Any, redis_client: Any, settings: Any
) -> None:
    import threading

    settings.OUTBOUND_RATE_BURST = 5  # the second send's slot is now too (a later one is slept for first)
    _record(_text_body(1))
    deliveries_drain(lane=0)  # the scripts are loaded in Redis now (a first EVALSHA is refused, then loaded)
    _record(_text_body(2, wa_id="573004445566"))
    commands: list[str] = []

    def read(monitor: Any) -> None:
        for command in monitor.listen():
            if command.get("client_type") != "lua":  # round trips only, not the commands of a script
                commands.append(command["command"])
            if "end-of-test" in command["command"]:
                return

    with redis_client.monitor() as monitor:
        reader = threading.Thread(target=read, args=(monitor,), daemon=True)
        reader.start()
        deliveries_drain(lane=0)
        redis_client.echo("end-of-test")
        reader.join(10)
    assert [m["json"]["to"] for m in fake_graph.sent] == ["573001112233", "573004445566"]
    pacing = [c for c in commands if "wia:rl:" in c]
    # One script for the customer's bucket, the number's slot and its window; then the answer.
    assert len(pacing) == 2, [c[:60] for c in pacing]
    assert pacing[0].startswith("EVALSHA") and "wia:rl:win:" in pacing[0]
    assert pacing[1].startswith("ZADD") and "wia:rl:win:" in pacing[1]


@pytest.mark.django_db
def test_a_bot_that_breaks_on_the_turn_keeps_the_message_failed_and_flags_the_chat(answering_rule: None) -> None:
    delivery = _record(_text_body(1))
    with responder_raising(ValueError("a bug in a bot")):
        deliveries_drain(lane=0)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PROCESSED  # the message was stored: nothing of the delivery lost
    message = Message.objects.get(direction="in")
    assert message.processing_state == "failed"
    assert "a bug in a bot" in message.data["processing_error"]
    assert _replies() == 0  # the turn was rolled back as a whole: no half answer
    conversation = Conversation.objects.get()
    assert conversation.needs_attention and "a bug in a bot" in conversation.attention_reason
    assert conversation.unread_count == 1


@pytest.mark.django_db
def test_a_bot_that_writes_then_breaks_leaves_nothing_of_its_turn_and_the_message_stored_once(
    answering_rule: None,
) -> None:
    """No savepoint around the bots: the whole turn rolls back and the message is stored again, pending."""
    from conversations.services import bots

    def write_then_raise(*, conversation: Any, message: Any) -> bool:
        Conversation.objects.filter(pk=conversation.pk).update(step="half-way")
        Message.objects.create(conversation=conversation, direction="out", kind="text", text="half", provider="meta")
        raise ValueError("broke after writing")

    delivery = _record(_text_body(1))
    bots.responder_register("test_writes_then_raises", write_then_raise, -1)
    try:
        deliveries_drain(lane=0)
    finally:
        bots.responder_unregister("test_writes_then_raises")
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PROCESSED
    message = Message.objects.get(direction="in")  # once
    assert message.processing_state == "failed" and message.attempts == 1
    assert _replies() == 0
    conversation = Conversation.objects.get()
    assert conversation.step == "inicio" and conversation.unread_count == 1
    assert conversation.last_inbound_at is not None


@pytest.mark.django_db(transaction=True)  # the turn's own transaction, not a savepoint in the test's
def test_an_answered_turn_runs_in_one_transaction_without_savepoints(answering_rule: None, fake_graph: Any) -> None:
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    _record(_text_body(1))
    deliveries_drain(lane=0)  # a new customer: contact and chat created
    _record(_text_body(2))
    with CaptureQueriesContext(db) as queries:
        deliveries_drain(lane=0)
    assert _replies() == 2
    assert not [q["sql"] for q in queries.captured_queries if "SAVEPOINT" in q["sql"].upper()]


@pytest.mark.skipif(connection.vendor != "mysql", reason="round trips to a database server")
@pytest.mark.django_db(transaction=True)  # the turn's own transaction, not a savepoint in the test's
def test_a_returning_customers_turn_takes_four_round_trips_to_mariadb(answering_rule: None, fake_graph: Any) -> None:
    """START rides with the chat's read; the chat's and the delivery's UPDATEs ride with the COMMIT
    (whatsapp_ia/db/mysql): the deliveries' read, then 4 round trips for the turn (there were 7)."""
    _record(_text_body(1))
    deliveries_drain(lane=0)  # a new customer: contact and chat created
    _record(_text_body(2))
    with database_round_trips() as round_trips:
        deliveries_drain(lane=0)
    sent = [
        " ; ".join(part.split(" ", 3)[0] + " " + _table(part) for part in text.decode(errors="replace").split("; "))
        for text in round_trips
    ]
    assert _replies() == 2
    turn = sent[sent.index("START  ; SELECT conversations_conversation") :]
    assert turn[:4] == [
        "START  ; SELECT conversations_conversation",
        "INSERT conversations_message",  # the customer's message
        "INSERT conversations_message",  # the reply
        "UPDATE conversations_conversation ; UPDATE conversations_webhookdelivery ; COMMIT ",
    ], sent


def _table(statement: str) -> str:
    """The first table a statement names (``conversations_message``), or nothing."""
    for word in statement.replace("`", " ").split():
        if "_" in word and word.split("_")[0] in {"conversations", "accounts", "flows"}:
            return word
    return ""


@pytest.mark.django_db(transaction=True)  # the turn's own transaction, not a savepoint in the test's
def test_a_one_message_delivery_is_finished_in_the_transaction_that_answers_it(
    answering_rule: None, fake_graph: Any
) -> None:
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    _record(_text_body(1))
    deliveries_drain(lane=0)
    delivery = _record(_text_body(2))
    with CaptureQueriesContext(db) as queries:
        deliveries_drain(lane=0)
    sql = [q["sql"] for q in queries.captured_queries]
    finished = [
        i for i, q in enumerate(sql) if q.startswith("UPDATE") and "webhookdelivery" in q and "processed_at" in q
    ]
    assert len(finished) == 1, sql
    begin = max(i for i, q in enumerate(sql[: finished[0]]) if q.startswith("BEGIN"))
    commit = min(i for i, q in enumerate(sql) if q == "COMMIT" and i > finished[0])
    assert any(q.startswith("INSERT") and "conversations_message" in q for q in sql[begin:commit])
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PROCESSED and delivery.events_count == 1 and delivery.processed_at
    assert _replies() == 2


@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_message_is_stored_already_is_still_finished(answering_rule: None, fake_graph: Any) -> None:
    _record(_text_body(1))
    deliveries_drain(lane=0)
    again = _record(_text_body(1))  # Meta sent it twice
    deliveries_drain(lane=0)
    again.refresh_from_db()
    assert again.state == DeliveryState.PROCESSED and again.processed_at is not None
    assert Message.objects.filter(direction="in").count() == 1 and _replies() == 1


@pytest.mark.django_db
def test_a_bot_that_meets_a_broken_database_on_the_turn_leaves_the_delivery_for_a_retry(answering_rule: None) -> None:
    from django.db import OperationalError

    delivery = _record(_text_body(1))
    with responder_raising(OperationalError("database is locked")):
        deliveries_drain(lane=0)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.RETRYING and "database is locked" in delivery.error
    assert Message.objects.count() == 0  # stored and answered together, or neither

    delivery_retry(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PROCESSED
    assert Message.objects.get(direction="in").processing_state == "done"
    assert _replies() == 1


@pytest.mark.django_db
def test_a_text_behind_a_message_still_waiting_for_its_media_waits_its_turn(answering_rule: None) -> None:
    from conversations.services.ingest import delivery_process

    audio = load_fixture("meta", "message__audio_voice_note")
    audio["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "573001112233"
    audio["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "573001112233"
    delivery_process(delivery_id=_record(json.dumps(audio).encode()).pk)
    delivery_process(delivery_id=_record(_text_body(1)).pk)
    states = dict(Message.objects.filter(direction="in").values_list("kind", "processing_state"))
    assert states == {"audio": "pending", "text": "pending"}  # the text is not answered before the audio
    assert _replies() == 0


@pytest.mark.django_db
def test_a_turn_writes_its_conversation_once_and_keeps_every_change(answering_rule: None, fake_graph: Any) -> None:
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from flows.models import Rule

    Rule.objects.filter(step="inicio").update(next_step="menu")
    _record(_text_body(1))
    with CaptureQueriesContext(db) as queries:
        deliveries_drain(lane=0)
    updates = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("UPDATE") and q["sql"].split()[1].strip('"`') == "conversations_conversation"
    ]
    assert len(updates) == 1, updates  # the touch, the reply's preview and the bot's step together
    conversation = Conversation.objects.get()
    assert (conversation.step, conversation.unread_count) == ("menu", 1)
    assert conversation.last_message_preview == "¡Hola!" and conversation.last_inbound_at is not None


@pytest.mark.parametrize("returning", [False, True])
@pytest.mark.django_db
def test_a_turn_stores_its_message_with_the_bots_notes_in_one_insert_before_the_reply(
    answering_rule: None, fake_graph: Any, returning: bool
) -> None:
    """The rules that matched are noted on the message in its INSERT, which comes before its reply's: no
    UPDATE of the message after it (one statement fewer per turn), and the console's order holds."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from flows.models import Rule

    rule = Rule.objects.get(step="inicio")
    if returning:
        _record(_text_body(1))
        deliveries_drain(lane=0)
    _record(_text_body(2))
    with CaptureQueriesContext(db) as queries:
        deliveries_drain(lane=0)
    statements = [(_written_table(q["sql"]), q["sql"]) for q in queries.captured_queries]
    inserts = [sql for table, sql in statements if table == "INSERT conversations_message"]
    assert len(inserts) == 2  # the message, then its reply
    noted_later = [sql for table, sql in statements if table == "UPDATE conversations_message" and "data" in sql]
    assert noted_later == []  # (the reply's "sent" record, when it went out, is an UPDATE of its status)
    message = Message.objects.get(provider_message_id="wamid.FAIL0002")
    assert message.data["rules"] == [rule.pk]
    reply = Message.objects.filter(direction="out").latest("id")
    assert message.pk < reply.pk and message.processing_state == "done"


def _written_table(sql: str) -> str:
    """'INSERT <table>' or 'UPDATE <table>' of an INSERT or UPDATE statement ('' for other statements)."""
    words = sql.split()
    if len(words) < 3 or words[0] not in ("INSERT", "UPDATE"):
        return ""
    table = words[2 if words[0] == "INSERT" else 1].strip('`"')
    return f"{words[0]} {table}"
