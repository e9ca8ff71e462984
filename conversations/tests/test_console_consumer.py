"""The agent console websocket through the real stack (Origin check, session, consumer) on the real
Redis channel layer: handshake refusals, live events per kind of user, catch-up after reconnect
with no gaps and no duplicates, resync, presence, and a webhook reaching a connected console."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client

from accounts.models import ChatRole, Role, User
from conversations import events
from conversations.models import Channel, Contact, Conversation
from conversations.routing import origin_allowed, websocket_application
from conversations.services import event_log, presence

pytestmark = pytest.mark.django_db(transaction=True)

MARK = "test.marker"


@pytest.fixture(autouse=True)
def _fresh_event_log(redis_client: Any) -> Iterator[None]:
    def clear() -> None:
        keys = [event_log.STREAM_KEY, event_log.FLOOR_KEY, *redis_client.scan_iter("wia:presence:*")]
        redis_client.delete(*keys)

    clear()
    yield
    clear()


def _session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _open(user: User | None, *, origin: bytes | None = b"http://testserver") -> WebsocketCommunicator:
    headers = [] if origin is None else [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(_session_cookie)(user)))
    communicator = WebsocketCommunicator(websocket_application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _console(user: User) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator = await _open(user)
    hello = await communicator.receive_json_from(timeout=10)
    assert hello["type"] == "hello"
    return communicator, hello


async def _until_marker(communicator: WebsocketCommunicator) -> list[dict[str, Any]]:
    """Everything this console got before the next marker event (every console gets the marker)."""
    got = []
    while (message := await communicator.receive_json_from(timeout=10)).get("event") != MARK:
        got.append(message)
    return got


def _broadcast(*items: tuple[list[str], str, dict[str, Any]]) -> None:
    """Events committed in one transaction, as the pipeline broadcasts them."""
    with transaction.atomic():
        for groups, name, data in items:
            events.broadcast_on_commit(groups=groups, name=name, data=data)


async def _marker(*users: User) -> None:
    groups = [events.GROUP_ALL, *(events.user_group(u.pk) for u in users)]
    await database_sync_to_async(_broadcast)((groups, MARK, {}))


def _world() -> dict[str, Any]:
    sales, support = (Role.objects.create(name=n, keyword=n.lower()) for n in ("Ventas", "Soporte"))
    admin = User.objects.create_superuser("admin", password="x")
    ana = User.objects.create_user("ana", password="x", first_name="Ana", last_name="Ruiz")
    beto = User.objects.create_user("beto", password="x", first_name="Beto")
    ana.roles.add(sales)
    beto.roles.add(support)
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="1234567890")

    def chat(number: str, role: Role) -> Conversation:
        conversation = Conversation.objects.create(
            contact=Contact.objects.create(provider="meta", external_id=number), channel=channel
        )
        ChatRole.objects.create(conversation=conversation, role=role)
        return conversation

    return {
        "admin": admin,
        "ana": ana,
        "beto": beto,
        "sales_chat": chat("573000000001", sales),
        "support_chat": chat("573000000002", support),
    }


def _message_event(conversation: Conversation, n: int) -> tuple[list[str], str, dict[str, Any]]:
    return events.groups_for(conversation), events.MESSAGE_CREATED, {"id": n, "conversation_id": conversation.pk}


# -- handshake ------------------------------------------------------------------------------------


async def test_a_handshake_without_a_session_is_closed_with_4401() -> None:
    communicator = await _open(None)
    assert (await communicator.receive_output(timeout=10)) == {"type": "websocket.close", "code": 4401}


@pytest.mark.parametrize("origin", [b"https://evil.example", b"null", None])
async def test_a_foreign_or_missing_origin_is_closed_with_4403_even_with_a_session(origin: bytes | None) -> None:
    user = await database_sync_to_async(User.objects.create_superuser)("admin", password="x")
    communicator = await _open(user, origin=origin)
    assert (await communicator.receive_output(timeout=10)) == {"type": "websocket.close", "code": 4403}


def test_origins_of_allowed_hosts_and_csrf_trusted_origins_are_ours(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["chat.example.com", ".shop.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example.org", "https://*.partner.example"]
    assert origin_allowed("https://chat.example.com")
    assert origin_allowed("http://chat.example.com:8000")
    assert origin_allowed("https://a.shop.example")
    assert origin_allowed("https://console.example.org")
    assert origin_allowed("https://x.partner.example")
    assert not origin_allowed("http://console.example.org")  # the trusted origin is https only
    assert not origin_allowed("https://chat.example.com.evil.example")
    assert not origin_allowed("https://partner.example.evil")
    assert not origin_allowed("")
    assert not origin_allowed("javascript:alert(1)")


# -- live events ----------------------------------------------------------------------------------


async def test_each_console_gets_the_events_of_the_chats_it_may_see_and_nothing_else() -> None:
    world = await database_sync_to_async(_world)()
    consoles = {name: (await _console(world[name]))[0] for name in ("admin", "ana", "beto")}

    sales_event = await database_sync_to_async(_message_event)(world["sales_chat"], 1)
    await database_sync_to_async(_broadcast)(sales_event)
    await _marker(world["ana"], world["beto"])

    got = {name: await _until_marker(c) for name, c in consoles.items()}
    for console in consoles.values():
        await console.disconnect()
    assert [m["data"]["id"] for m in got["admin"]] == [1]
    assert [m["data"]["id"] for m in got["ana"]] == [1]
    assert got["beto"] == []  # out of role: nothing, not even a hint
    event = got["ana"][0]
    assert event["type"] == "event" and event["event"] == events.MESSAGE_CREATED
    assert event_log.parse_event_id(event["id"]) is not None


async def test_an_event_for_several_of_a_users_groups_arrives_once() -> None:
    world = await database_sync_to_async(_world)()
    ana = world["ana"]
    await database_sync_to_async(Conversation.objects.filter(pk=world["sales_chat"].pk).update)(assigned_to=ana)
    console, _ = await _console(ana)
    await database_sync_to_async(_broadcast)(await database_sync_to_async(_message_event)(world["sales_chat"], 7))
    await _marker(ana)
    got = await _until_marker(console)
    await console.disconnect()
    assert [m["data"]["id"] for m in got] == [7]  # in ana's role group and in her own group: once


# -- catch-up -------------------------------------------------------------------------------------


async def test_a_reconnecting_console_gets_what_it_missed_in_order_then_live_with_no_duplicate() -> None:
    world = await database_sync_to_async(_world)()
    ana, sales_chat, support_chat = world["ana"], world["sales_chat"], world["support_chat"]
    message = database_sync_to_async(_message_event)

    console, _ = await _console(ana)
    await database_sync_to_async(_broadcast)(await message(sales_chat, 1), await message(sales_chat, 2))
    seen = [await console.receive_json_from(timeout=10) for _ in range(2)]
    assert [m["data"]["id"] for m in seen] == [1, 2]
    await console.disconnect()

    # Away: three events of her chat (one transaction and another), one of a chat she may not see.
    await database_sync_to_async(_broadcast)(await message(sales_chat, 3), await message(support_chat, 99))
    await database_sync_to_async(_broadcast)(await message(sales_chat, 4), await message(sales_chat, 5))

    console, hello = await _console(ana)
    # An event stored after the hello: it arrives live, maybe before the replay, maybe after it.
    await database_sync_to_async(_broadcast)(await message(sales_chat, 6))
    await console.send_json_to({"type": "resume", "after": seen[-1]["id"]})
    got = []
    while (message := await console.receive_json_from(timeout=10))["type"] != "resumed":
        got.append(message)
    caught_up = list(got)
    await _marker(ana)
    after_resumed = await _until_marker(console)
    got += after_resumed
    await console.disconnect()

    # "resumed" names the newest event sent before it; what comes after it is newer (event 6, when
    # the broadcaster thread appended it only after the replay's read, arrives there, live).
    last = event_log.parse_event_id(message["last_id"])
    assert last == max(event_log.parse_event_id(m["id"]) for m in caught_up)
    assert all(event_log.parse_event_id(m["id"]) > last for m in after_resumed)
    ids = [m["data"]["id"] for m in got]
    assert sorted(ids) == [3, 4, 5, 6]  # no gap, no duplicate, nothing of the support chat
    replayed = [i for i in ids if i != 6]
    assert replayed == [3, 4, 5]  # replayed in order
    assert all(event_log.parse_event_id(m["id"]) > event_log.parse_event_id(seen[-1]["id"]) for m in got)
    assert event_log.parse_event_id(hello["last_id"]) >= event_log.parse_event_id(got[ids.index(5)]["id"])


async def test_a_resume_twice_on_one_connection_never_repeats_what_went_out_live() -> None:
    world = await database_sync_to_async(_world)()
    ana, sales_chat = world["ana"], world["sales_chat"]
    console, hello = await _console(ana)
    await database_sync_to_async(_broadcast)(await database_sync_to_async(_message_event)(sales_chat, 1))
    live = await console.receive_json_from(timeout=10)
    await console.send_json_to({"type": "resume", "after": hello["last_id"]})
    assert (await console.receive_json_from(timeout=10))["type"] == "resumed"
    await _marker(ana)
    assert await _until_marker(console) == []
    await console.disconnect()
    assert live["data"]["id"] == 1


async def test_a_gap_older_than_the_log_asks_for_a_resync(redis_client: Any) -> None:
    world = await database_sync_to_async(_world)()
    ana, sales_chat = world["ana"], world["sales_chat"]
    groups = await database_sync_to_async(events.groups_for)(sales_chat)
    pending = [
        event_log.PendingEvent(name=events.MESSAGE_CREATED, groups=tuple(groups), data={"id": n}) for n in range(300)
    ]
    # A log capped at 10: Redis trims whole nodes of 100 entries, so the oldest ones go.
    ids = event_log.events_append(redis_client, pending, maxlen=10, group_prefix=events.group_channel_prefix())
    assert redis_client.xlen(event_log.STREAM_KEY) < 300

    console, _ = await _console(ana)
    await console.send_json_to({"type": "resume", "after": ids[0]})
    assert (await console.receive_json_from(timeout=10))["type"] == "resync"
    # An id the log never issued (a Redis that lost its data, a forged id): resync too.
    await console.send_json_to({"type": "resume", "after": "99999999999999-0"})
    assert (await console.receive_json_from(timeout=10))["type"] == "resync"
    # The newest id is fine: nothing to replay.
    await console.send_json_to({"type": "resume", "after": ids[-1]})
    assert (await console.receive_json_from(timeout=10)) == {"type": "resumed", "last_id": ids[-1]}
    await _marker(ana)
    assert await _until_marker(console) == []
    await console.disconnect()


async def test_a_malformed_resume_gets_a_clear_error_and_the_console_stays_up() -> None:
    world = await database_sync_to_async(_world)()
    console, _ = await _console(world["ana"])
    await console.send_json_to({"type": "resume", "after": "drop table"})
    assert (await console.receive_json_from(timeout=10))["code"] == "bad_request"
    await console.send_to(text_data="not json")
    assert (await console.receive_json_from(timeout=10))["code"] == "bad_request"
    await _marker(world["ana"])
    assert await _until_marker(console) == []
    await console.disconnect()


def test_the_replayed_frame_is_the_text_the_script_publishes(redis_client: Any) -> None:
    data = {"id": 1, "text": 'dice "hola" <script>', "emoji": "ñ😀"}
    [event_id] = event_log.events_append(
        redis_client,
        [event_log.PendingEvent(name=events.MESSAGE_CREATED, groups=("console.all",), data=data)],
        maxlen=100,
        group_prefix="x",
    )
    frame = event_log.event_frame(event_id=event_id, name=events.MESSAGE_CREATED, data_json=event_log.data_json(data))
    assert json.loads(frame) == {"type": "event", "id": event_id, "event": events.MESSAGE_CREATED, "data": data}
    entry = redis_client.xrange(event_log.STREAM_KEY)[0]
    assert entry[1][b"d"].decode() == event_log.data_json(data)


# -- who sees what, after a change ----------------------------------------------------------------


async def test_a_console_whose_user_loses_a_role_stops_getting_its_chats_and_reloads() -> None:
    world = await database_sync_to_async(_world)()
    ana, sales_chat = world["ana"], world["sales_chat"]
    console, _ = await _console(ana)
    await database_sync_to_async(lambda: ana.roles.clear())()
    await console.send_json_to({"type": "viewing", "conversation_id": None})  # a heartbeat re-applies the rule
    assert (await console.receive_json_from(timeout=10))["type"] == "resync"
    await database_sync_to_async(_broadcast)(await database_sync_to_async(_message_event)(sales_chat, 1))
    await _marker(ana)
    assert await _until_marker(console) == []
    await console.disconnect()


# -- presence -------------------------------------------------------------------------------------


async def test_agents_viewing_a_chat_see_each_other_and_the_ones_who_leave() -> None:
    world = await database_sync_to_async(_world)()
    admin, ana, beto, sales_chat = world["admin"], world["ana"], world["beto"], world["sales_chat"]
    admin_console, _ = await _console(admin)
    ana_console, _ = await _console(ana)
    beto_console, _ = await _console(beto)

    await ana_console.send_json_to({"type": "viewing", "conversation_id": sales_chat.pk})
    first = await ana_console.receive_json_from(timeout=10)
    assert first == {
        "type": "presence",
        "conversation_id": sales_chat.pk,
        "viewers": [{"id": ana.pk, "name": "Ana Ruiz"}],
    }
    assert await admin_console.receive_json_from(timeout=10) == first

    await admin_console.send_json_to({"type": "viewing", "conversation_id": sales_chat.pk})
    both = {"type": "presence", "conversation_id": sales_chat.pk,
            "viewers": [{"id": admin.pk, "name": "admin"}, {"id": ana.pk, "name": "Ana Ruiz"}]}  # fmt: skip
    assert await ana_console.receive_json_from(timeout=10) == both
    assert await admin_console.receive_json_from(timeout=10) == both

    # Beto may not see the sales chat: he cannot view it and hears nothing of it.
    await beto_console.send_json_to({"type": "viewing", "conversation_id": sales_chat.pk})
    assert (await beto_console.receive_json_from(timeout=10))["code"] == "not_found"
    await beto_console.send_json_to({"type": "viewing", "conversation_id": 999999})
    assert (await beto_console.receive_json_from(timeout=10))["code"] == "not_found"

    await ana_console.disconnect()
    assert await admin_console.receive_json_from(timeout=10) == {
        "type": "presence", "conversation_id": sales_chat.pk, "viewers": [{"id": admin.pk, "name": "admin"}],
    }  # fmt: skip
    await _marker(admin, beto)
    assert await _until_marker(beto_console) == []
    await admin_console.disconnect()
    await beto_console.disconnect()


async def test_a_viewer_who_stops_sending_heartbeats_drops_out(redis_client: Any, clock: Any) -> None:
    from redis import asyncio as aioredis

    client = aioredis.Redis.from_url(settings.REDIS_URL)
    ana = presence.presence_member(user_id=1, connection="c1", name="Ana")
    ana_tab2 = presence.presence_member(user_id=1, connection="c2", name="Ana")
    beto = presence.presence_member(user_id=2, connection="c3", name="Beto")
    view = presence.presence_view

    assert (await view(client, conversation_id=5, member=ana, now=clock.now, ttl=60)).changed
    assert not (await view(client, conversation_id=5, member=ana_tab2, now=clock.advance(1), ttl=60)).changed
    change = await view(client, conversation_id=5, member=beto, now=clock.advance(1), ttl=60)
    assert change.changed and [v.name for v in change.viewers] == ["Ana", "Beto"]

    clock.advance(40)  # Beto's console keeps beating; Ana's two tabs crashed 42 and 41 s ago
    assert not (await view(client, conversation_id=5, member=beto, now=clock.now, ttl=60)).changed
    change = await view(client, conversation_id=5, member=beto, now=clock.advance(30), ttl=60)
    assert change.changed and [v.as_dict() for v in change.viewers] == [{"id": 2, "name": "Beto"}]
    assert redis_client.pttl("wia:presence:conversation:5") > 0  # the set itself expires once nobody beats
    await client.aclose()


# -- through the pipeline -------------------------------------------------------------------------


async def test_a_message_stored_from_a_webhook_reaches_a_connected_console(
    meta_settings: Any, fake_graph: Any, celery_live_worker: Any
) -> None:
    from conversations.tests.conftest import sign
    from conversations.tests.test_processing import text_payload

    admin = await database_sync_to_async(User.objects.create_superuser)("admin", password="x")
    console, _ = await _console(admin)

    def post() -> int:
        body = json.dumps(text_payload("<b>hola</b> desde WhatsApp", n=1)).encode()
        return (
            Client()
            .post("/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body))
            .status_code
        )

    assert await database_sync_to_async(post)() == 200
    created: list[dict[str, Any]] = []

    async def inbound_message_arrived() -> bool:
        message = await console.receive_json_from(timeout=15)
        if message.get("event") == events.MESSAGE_CREATED and message["data"]["direction"] == "in":
            created.append(message)
        return bool(created)

    while not await inbound_message_arrived():
        pass
    await console.disconnect()
    assert created[0]["data"]["text"] == "<b>hola</b> desde WhatsApp"


# -- the sending side -----------------------------------------------------------------------------


def _logged_ids(redis_client: Any) -> list[int]:
    return [json.loads(fields[b"d"])["id"] for _, fields in redis_client.xrange(event_log.STREAM_KEY)]


def test_the_events_of_one_transaction_are_handed_over_together_once_it_commits(redis_client: Any) -> None:
    from conftest import wait_for
    from conversations.events import _broadcaster

    def event(n: int) -> None:
        groups = [events.GROUP_ALL, "console.role.1"]
        events.broadcast_on_commit(groups=groups, name=events.MESSAGE_CREATED, data={"id": n})

    before = _broadcaster.batches_submitted
    with transaction.atomic():
        event(1)
        with transaction.atomic():  # a savepoint that commits
            event(2)
        try:
            with transaction.atomic():  # a savepoint that rolls back: its event never happened
                event(3)
                raise RuntimeError
        except RuntimeError:
            pass
        transaction.on_commit(lambda: None)  # someone else's hook in between
        event(4)
        assert _broadcaster.batches_submitted == before  # nothing before the commit
    assert _broadcaster.batches_submitted == before + 1  # one batch for the transaction
    wait_for(lambda: len(_logged_ids(redis_client)) == 3, message=lambda: str(_logged_ids(redis_client)))
    assert _logged_ids(redis_client) == [1, 2, 4]

    try:
        with transaction.atomic():
            event(5)
            raise RuntimeError
    except RuntimeError:
        pass
    with transaction.atomic():  # the next transaction starts its own batch
        event(6)
    event(7)  # outside a transaction: committed already
    assert _broadcaster.batches_submitted == before + 3
    wait_for(lambda: len(_logged_ids(redis_client)) == 5, message=lambda: str(_logged_ids(redis_client)))
    assert _logged_ids(redis_client) == [1, 2, 4, 6, 7]


async def test_moving_to_another_chat_leaves_the_first_one() -> None:
    world = await database_sync_to_async(_world)()
    admin, ana, sales_chat, support_chat = world["admin"], world["ana"], world["sales_chat"], world["support_chat"]
    admin_console, _ = await _console(admin)
    ana_console, _ = await _console(ana)
    await admin_console.send_json_to({"type": "viewing", "conversation_id": support_chat.pk})
    assert (await admin_console.receive_json_from(timeout=10))["conversation_id"] == support_chat.pk
    await ana_console.send_json_to({"type": "viewing", "conversation_id": sales_chat.pk})
    assert (await ana_console.receive_json_from(timeout=10))["viewers"] == [{"id": ana.pk, "name": "Ana Ruiz"}]
    assert (await admin_console.receive_json_from(timeout=10))["conversation_id"] == sales_chat.pk

    await admin_console.send_json_to({"type": "viewing", "conversation_id": sales_chat.pk})  # leaves support
    assert await admin_console.receive_json_from(timeout=10) == {
        "type": "presence", "conversation_id": support_chat.pk, "viewers": [],
    }  # fmt: skip
    both = await admin_console.receive_json_from(timeout=10)
    assert both["conversation_id"] == sales_chat.pk and [v["id"] for v in both["viewers"]] == [admin.pk, ana.pk]
    assert (await ana_console.receive_json_from(timeout=10)) == both

    await ana_console.send_json_to({"type": "viewing", "conversation_id": None})  # back to the list
    assert (await admin_console.receive_json_from(timeout=10))["viewers"] == [{"id": admin.pk, "name": "admin"}]
    await admin_console.disconnect()
    await ana_console.disconnect()


def test_in_the_pipeline_runner_a_transactions_events_are_logged_by_its_commit_itself(
    redis_client: Any, monkeypatch: Any
) -> None:
    """``events.broadcast_inline``: no hand-over to the broadcaster thread; logged when the commit returns."""
    from conversations.events import _broadcaster

    monkeypatch.setattr(_broadcaster, "inline", False)
    events.broadcast_inline()
    assert _broadcaster.inline
    sent = _broadcaster.batches_sent
    with transaction.atomic():
        for n in (11, 12):
            events.broadcast_on_commit(groups=[events.GROUP_ALL], name=events.MESSAGE_CREATED, data={"id": n})
        assert _logged_ids(redis_client) == []  # nothing before the commit
    assert _logged_ids(redis_client) == [11, 12]  # no wait: the commit's own thread wrote them
    assert _broadcaster.batches_sent == sent + 1  # in one round trip
