"""Agent console fan-out: from a message being stored to every connected console receiving it.

    bash bench/console_fanout.sh                       # 200 consoles, 20 messages/s for 60 s, + webhooks, + baseline
    bash bench/console_fanout.sh --consoles 50 --seconds 20
    bash bench/console_fanout.sh --send-cost-only      # the sending side's cost per event, before/after

1. Fan-out. The product runs as `bin/run` runs it (`manage.py serve`: the web server holding the
   websockets, a Celery worker, the scheduler, the embedded Redis; SQLite) on core 0, with the bot's
   rules answering every message (its replies go to a local fake Graph API on core 1). `--consoles`
   real websocket clients (the `websockets` library, in this driver on core 1) log in with their
   own session (half superusers, half agents who take unrouted chats: two console groups) and open
   /ws/console/. A storing process on core 0 (the work a pipeline worker does) stores inbound
   messages through the pipeline's own `message_store_inbound`, `--rate` per second for
   `--seconds`, each in its transaction, and notes when each commit returned. Latency = a
   console receiving the message's `message.created` event - that commit; delivered share =
   (message, console) pairs received / stored messages x consoles.
2. Webhook to console: signed Meta text webhooks POSTed to the product (`--webhooks` at
   `--webhook-rate`/s) while the consoles stay connected; latency = a console receiving the
   message - the start of the POST (the web tier stores the delivery, a worker parses and stores
   the message, the broadcaster publishes it).
3. Baseline in the same run: a bare `websockets` broadcast server on core 0 that makes the same
   number of frames of the same size at the same rate and broadcasts each to the same number of
   clients (`websockets.broadcast`); latency from just before the broadcast.
4. The sending side's cost per event (``--send-cost-only`` runs only this): transactions of two
   events (a message and its conversation) to three console groups, through
   `broadcast_on_commit` as it is now and as it was before the event log (conversations/events.py
   at the commit `--before-rev`: an asyncio loop thread doing one channel-layer group_send per
   group per event on the core Redis layer), each against its own private Redis with a subscriber:
   CPU of the calling thread, of the whole process (sending thread included) and of Redis per event,
   and Redis round trips.

Prints tables and PASS/FAIL against the targets (100% delivered, p95 < 100 ms from stored to
console; p95 < 300 ms from webhook POST to console); writes bench/results/console-fanout-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.e2e_pipeline import (
    APP_SECRET,
    FIXTURE,
    PHONE_NUMBER_ID,
    TOKEN,
    cpu_delta,
    cpu_of_tree,
    fmt,
    free_port,
    pct,
    product_env,
    wait_http,
)
from bench.outbound_throughput import stop_process

ROOT = Path(__file__).resolve().parent.parent
STORE_PREFIX = "5730"  # customers of the storing process
HOOK_PREFIX = "5731"  # customers of the webhooks
SESSION_FILE = "console-sessions.json"
STORE_CHATS = 200  # distinct customers of the storing process


# --------------------------------------------------------------------------- inside the product's environment


def _django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_ia.settings.base")
    django.setup()


def setup_product(consoles: int, out: Path, *, taken_over: bool) -> None:
    """The rules (as the e2e benchmark), the channel, and `consoles` users with a session each."""
    from bench.e2e_pipeline import product_setup

    product_setup()  # calls django.setup()
    from django.contrib.auth.models import Permission
    from django.test import Client

    from accounts.models import User
    from conversations.models import Channel, Contact, Conversation
    from conversations.services.state import conversation_take_over

    channel, _ = Channel.objects.get_or_create(provider="meta", external_id=PHONE_NUMBER_ID, defaults={"name": "Bench"})
    if taken_over:  # chats agents are answering: the bot stays silent, each message is 2 events
        for i in range(STORE_CHATS):
            wa_id = f"{STORE_PREFIX}{i:07d}"
            contact, _ = Contact.objects.get_or_create(
                provider="meta", external_id=wa_id, defaults={"profile_name": f"Cliente {i}", "phone": f"+{wa_id}"}
            )
            conversation, _ = Conversation.objects.get_or_create(contact=contact, channel=channel)
            conversation_take_over(conversation)
    take_unrouted = Permission.objects.get(codename="take_unrouted_conversations")
    cookies = []
    for i in range(consoles):
        name = f"console{i:04d}"
        User.objects.filter(username=name).delete()
        if i % 2 == 0:
            user = User.objects.create_superuser(name, password=None)
        else:
            user = User.objects.create_user(name, password=None)
            user.user_permissions.add(take_unrouted)
        client = Client()
        client.force_login(user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    out.write_text(json.dumps(cookies))


def store_messages(rate: float, seconds: float, out: Path, run: str) -> None:
    """Store inbound messages through the pipeline's own function at a steady rate; note each commit."""
    _django()
    from django.db import transaction
    from django.utils import timezone

    from conversations.events import _broadcaster
    from conversations.providers.base import InboundMessage
    from conversations.services.ingest import message_store_inbound

    stored: dict[int, float] = {}
    count = int(rate * seconds)
    cpu0 = time.process_time()
    start = time.monotonic() + 0.2
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        wa_id = f"{STORE_PREFIX}{i % STORE_CHATS:07d}"
        event = InboundMessage(
            provider_message_id=f"wamid.fanout.{run}.{i}",
            channel_external_id=PHONE_NUMBER_ID,
            contact_external_id=wa_id,
            contact_name=f"Cliente {i % STORE_CHATS}",
            kind="text",
            sent_at=timezone.now(),
            text=f"Mensaje {i}: ¿tienen granito negro para un mesón de 2,40 m?",
        )
        with transaction.atomic():
            message = message_store_inbound(provider="meta", event=event)
        stored[message.pk] = time.time()
    deadline = time.monotonic() + 10  # the broadcaster thread sends the last batches
    while _broadcaster.batches_sent < _broadcaster.batches_submitted and time.monotonic() < deadline:
        time.sleep(0.05)
    out.write_text(json.dumps({"stored": stored, "cpu_seconds": time.process_time() - cpu0}))


# --------------------------------------------------------------------------- baseline server


def bare_server(port: int, clients: int, rate: float, seconds: float, frame_size: int, out: Path) -> None:
    """A bare websockets broadcast server: waits for `clients`, then broadcasts frames at `rate`."""
    from websockets.asyncio.server import broadcast, serve

    connected: set[Any] = set()

    async def handler(ws: Any) -> None:
        connected.add(ws)
        try:
            await ws.wait_closed()
        finally:
            connected.discard(ws)

    async def main() -> None:
        sent: dict[int, float] = {}
        async with serve(handler, "127.0.0.1", port, compression=None):
            deadline = time.monotonic() + 60
            while len(connected) < clients and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            print(f"{len(connected)} clients connected", flush=True)
            await asyncio.sleep(1)
            cpu0 = time.process_time()
            start = time.monotonic()
            for i in range(int(rate * seconds)):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                data = {"id": i, "pad": ""}
                base = len(json.dumps({"type": "event", "id": f"{i}-0", "event": "message.created", "data": data}))
                data["pad"] = "x" * max(0, frame_size - base)
                frame = json.dumps({"type": "event", "id": f"{i}-0", "event": "message.created", "data": data})
                sent[i] = time.time()
                broadcast(connected, frame)
            cpu = time.process_time() - cpu0
            await asyncio.sleep(3)
        out.write_text(json.dumps({"sent": sent, "cpu_seconds": cpu}))

    asyncio.run(main())


# --------------------------------------------------------------------------- the consoles (driver, core 1)


class Consoles:
    """`n` websocket clients; each notes when it got each message.created (by message id and text)."""

    def __init__(self) -> None:
        self.received: list[dict[int, float]] = []
        self.texts: list[dict[str, float]] = []
        self.hellos = 0
        self.closed = 0
        self.failed: list[str] = []
        self.frame_sizes: list[int] = []
        self.tasks: list[asyncio.Task] = []
        self.sockets: list[Any] = []

    async def open(self, url: str, *, cookies: list[str] | None, origin: str, count: int) -> None:
        from websockets.asyncio.client import connect

        async def one(i: int) -> None:
            headers = {"Cookie": cookies[i]} if cookies else {}
            for attempt in range(3):  # a console reconnects when its handshake fails, as the page does
                try:
                    ws = await connect(url, additional_headers=headers, origin=origin, compression=None, max_size=2**22)
                    break
                except Exception as exc:  # counted; after three failures the console receives nothing
                    self.failed.append(repr(exc))
                    await asyncio.sleep(0.5 * (attempt + 1))
            else:
                return
            self.sockets.append(ws)
            got, texts = self.received[i], self.texts[i]
            try:
                async for frame in ws:
                    now = time.time()
                    if '"message.created"' not in frame:
                        if '"hello"' in frame:
                            self.hellos += 1
                        continue
                    data = json.loads(frame)["data"]
                    got.setdefault(data["id"], now)
                    if data.get("direction", "in") == "in" and data.get("text"):
                        texts.setdefault(data["text"], now)
                    if len(self.frame_sizes) < 50:
                        self.frame_sizes.append(len(frame.encode()))
            except Exception:  # a dropped console shows as undelivered events
                self.closed += 1

        start = len(self.received)
        for _ in range(count):
            self.received.append({})
            self.texts.append({})
        for i in range(start, start + count):
            self.tasks.append(asyncio.create_task(one(i)))
            await asyncio.sleep(0.005)  # a trickle, as agents arrive, not one burst of handshakes

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def latency_figures(name: str, sent: dict[Any, float], consoles: Consoles, *, by_text: bool = False) -> dict[str, Any]:
    latencies, delivered = [], 0
    for got in consoles.texts if by_text else consoles.received:
        for key, at in sent.items():
            received = got.get(key)
            if received is not None:
                delivered += 1
                latencies.append((received - at) * 1000)
    expected = len(sent) * len(consoles.received)
    return {
        "name": name,
        "events": len(sent),
        "consoles": len(consoles.received),
        "expected": expected,
        "delivered": delivered,
        "delivered_pct": round(100 * delivered / expected, 3) if expected else None,
        "p50_ms": pct(latencies, 50),
        "p95_ms": pct(latencies, 95),
        "p99_ms": pct(latencies, 99),
        "max_ms": max(latencies) if latencies else None,
    }


def webhook_bodies(count: int, run: str) -> list[tuple[str, bytes]]:
    template = json.loads(FIXTURE.read_text())
    bodies = []
    for i in range(count):
        payload = copy.deepcopy(template)
        value = payload["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
        wa_id = f"{HOOK_PREFIX}{i % 50:07d}"
        value["contacts"][0].update({"wa_id": wa_id})
        message = value["messages"][0]
        text = f"webhook {run} {i}"
        message.update({"from": wa_id, "id": f"wamid.hook.{run}.{i}", "timestamp": str(int(time.time()))})
        message["text"]["body"] = text
        bodies.append((text, json.dumps(payload).encode()))
    return bodies


async def post_webhooks(port: int, bodies: list[tuple[str, bytes]], rate: float) -> dict[str, float]:
    started: dict[str, float] = {}

    async def one(text: str, body: bytes) -> None:
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        head = (
            f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started[text] = time.time()
        writer.write(head + body)
        status = await reader.readline()
        if b" 200 " not in status:
            print(f"  webhook answered {status!r}", flush=True)
        writer.close()

    tasks = []
    start = time.monotonic()
    for i, (text, body) in enumerate(bodies):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(text, body)))
    await asyncio.gather(*tasks)
    return started


async def settle(socket: Path, *, seconds: float = 120) -> None:
    """Wait until the product's Celery queue is empty and nothing is being worked on (twice in a row)."""
    import redis

    client = redis.Redis(unix_socket_path=str(socket))
    deadline, quiet = time.monotonic() + seconds, 0
    while quiet < 2 and time.monotonic() < deadline:
        busy = client.llen("celery") + client.hlen("unacked")
        quiet = quiet + 1 if busy == 0 else 0
        await asyncio.sleep(0.5)


async def drain(consoles: Consoles, sent_keys: Any, *, by_text: bool, seconds: float) -> None:
    """Wait until every console has every event, or nothing new arrived for `seconds`."""
    keys = list(sent_keys)
    last, last_change = -1, time.monotonic()
    while True:
        have = sum(1 for got in (consoles.texts if by_text else consoles.received) for k in keys if k in got)
        if have >= len(keys) * len(consoles.received):
            return
        if have != last:
            last, last_change = have, time.monotonic()
        elif time.monotonic() - last_change > seconds:
            return
        await asyncio.sleep(0.25)


# --------------------------------------------------------------------------- send cost (before / after)


def send_cost(variant: str, transactions: int, rate: float, out: Path, before_source: str) -> None:
    """Inside a process with REDIS_URL set to a private Redis: the sending side's cost per event."""
    import types

    _django()
    import redis
    from django.conf import settings
    from django.db import transaction

    from bench.outbound_throughput import redis_commands

    client = redis.Redis.from_url(settings.REDIS_URL)
    groups = ["console.all", "console.role.1", "console.user.7"]
    text = "¿Tienen granito negro para un mesón de 2,40 m?"
    created = "2026-12-06T06:00:00+00:00"
    message = {
        "id": 1, "conversation_id": 9, "direction": "in", "kind": "text", "status": "received", "text": text,
        "caption": "", "error": "", "media_url": None, "media_mime": "", "transcription": "", "created_at": created,
    }  # fmt: skip
    conversation = {
        "id": 9, "contact": "Laura", "status": "bot", "step": "menu", "bot_paused": False, "unread_count": 1,
        "last_message_preview": text, "last_activity_at": created,
    }  # fmt: skip
    import logging

    failures = []

    class CountFailures(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            failures.append(record.getMessage())

    logging.getLogger("events_before").addHandler(CountFailures(level=logging.WARNING))
    logging.getLogger("conversations.events").addHandler(CountFailures(level=logging.WARNING))
    logging.getLogger("events_before").propagate = False
    if variant == "before":
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [settings.REDIS_URL]}}
        }
        events = types.ModuleType("events_before")
        exec(compile(before_source, "events_before.py", "exec"), events.__dict__)  # noqa: S102 - our own file at a commit
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        for group in groups:  # one console in each group, so group_send has someone to write to
            async_to_sync(layer.group_add)(group, channel)
    else:
        from conversations import events

    def one_transaction(i: int) -> None:
        with transaction.atomic():
            events.broadcast_on_commit(groups=groups, name="message.created", data={**message, "id": i})
            events.broadcast_on_commit(groups=groups, name="conversation.updated", data=conversation)

    for i in range(50):  # warm-up: connections, scripts
        one_transaction(i)
        time.sleep(1 / rate)
    time.sleep(1)
    redis_cpu0 = _redis_cpu(client)
    commands0 = sum(redis_commands(client).values())
    process0, thread0 = time.process_time(), time.thread_time()
    start = time.monotonic()
    for i in range(transactions):  # paced: the old sender opened a connection per concurrent send and ran out
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        one_transaction(i)
    caller = time.thread_time() - thread0
    if variant == "before":
        loop = events._broadcaster._loop

        async def pending() -> int:
            return len(asyncio.all_tasks()) - 1

        deadline = time.monotonic() + 30
        while asyncio.run_coroutine_threadsafe(pending(), loop).result() > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        round_trips = None
    else:
        deadline = time.monotonic() + 30
        while events._broadcaster.batches_sent < events._broadcaster.batches_submitted and time.monotonic() < deadline:
            time.sleep(0.01)
        round_trips = events._broadcaster.batches_sent
    process = time.process_time() - process0
    redis_cpu = _redis_cpu(client) - redis_cpu0
    commands = sum(redis_commands(client).values()) - commands0
    n = 2 * transactions
    out.write_text(
        json.dumps(
            {
                "variant": variant,
                "events": n,
                "send_failures": len(failures),
                "caller_us_per_event": round(1e6 * caller / n, 1),
                "process_us_per_event": round(1e6 * process / n, 1),
                "redis_us_per_event": round(1e6 * redis_cpu / n, 1),
                "redis_commands_per_event": round(commands / n, 2),
                "round_trips_per_transaction": None
                if round_trips is None
                else round(round_trips / (transactions + 50), 2),
            }
        )
    )


def _redis_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure_send_cost(work: Path, *, transactions: int, rate: float, before_rev: str) -> list[dict[str, Any]]:
    from whatsapp_ia import embedded_redis

    results = []
    try:
        before_source = subprocess.run(
            ["git", "show", f"{before_rev}:conversations/events.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        before_source = ""
        print(f"  (no git history at {before_rev}: the 'before' figure is skipped)")
    for variant in ("before", "after") if before_source else ("after",):
        socket = work / f"send-{variant}.sock"
        redis_proc = embedded_redis.start(str(socket), log_path=work / f"send-{variant}-redis.log")
        subscriber = subprocess.Popen(
            ["redis-cli", "-s", str(socket), "SUBSCRIBE",
             *(f"wia-ws__group__{g}" for g in ("console.all", "console.role.1", "console.user.7"))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
        env.update(
            {"REDIS_URL": f"unix://{socket}", "WIA_VAR_DIR": str(work / f"var-{variant}"), "LOG_LEVEL": "WARNING"}
        )
        out = work / f"send-{variant}.json"
        source_file = work / "events_before.py"
        source_file.write_text(before_source)
        try:
            subprocess.run(
                ["taskset", "-c", "0", sys.executable, "-m", "bench.console_fanout", "--send-cost-child", variant,
                 "--transactions", str(transactions), "--rate", str(rate), "--out", str(out),
                 "--before-file", str(source_file)],
                env=env, cwd=ROOT, check=True,
            )  # fmt: skip
            results.append(json.loads(out.read_text()))
        finally:
            stop_process(subscriber)
            if redis_proc is not None:
                stop_process(redis_proc)
    return results


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="wia-fanout-"))
    log_dir = Path(os.environ.get("LOG", work))
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    procs: list[subprocess.Popen] = []
    figures: list[dict[str, Any]] = []
    cpu: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    try:
        send = []
        if args.send_cost:
            print("Sending side: cost per event, before and after the event log …", flush=True)
            send = measure_send_cost(
                work, transactions=args.send_transactions, rate=args.send_rate, before_rev=args.before_rev
            )
        if not args.send_cost_only:
            figures, cpu, extra = asyncio.run(fanout(args, work, log_dir, run_id, procs))
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nSending side, per event ({args.send_transactions} transactions of 2 events to 3 groups at "
          f"{args.send_rate:g}/s; core 0):")  # fmt: skip
    keys = ("send_failures", "caller_us_per_event", "process_us_per_event", "redis_us_per_event",
            "redis_commands_per_event", "round_trips_per_transaction")  # fmt: skip
    print("  " + "  ".join(f"{k:>28}" for k in ("variant", *keys)))
    for row in send:
        print("  " + "  ".join(f"{fmt(row.get(k)):>28}" for k in ("variant", *keys)))
    result: dict[str, Any] = {"run": run_id, "args": vars(args), "send_cost": send}
    if args.send_cost_only:
        path = results_dir / f"console-fanout-send-{run_id}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"\n(figures in {path.relative_to(ROOT)})")
        return 0

    print(f"\nFan-out: {args.consoles} consoles, {args.rate:g} events/s for {args.seconds:g} s; "
          f"server on core 0, clients on core 1 (frames of about {extra.get('frame_bytes')} bytes)")  # fmt: skip
    header = ("measure", "events", "consoles", "delivered", "delivered %", "p50 ms", "p95 ms", "p99 ms", "max ms")
    keys = ("name", "events", "consoles", "delivered", "delivered_pct", "p50_ms", "p95_ms", "p99_ms", "max_ms")
    rows = [[fmt(f[k]) for k in keys] for f in figures]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    for name, by_role in cpu.items():
        shares = ", ".join(
            f"{role} {seconds:.2f} s" for role, seconds in sorted(by_role.items(), key=lambda kv: -kv[1])
        )
        print(f"  CPU during {name}: {shares}")
    print("  CPU per stored message, product (web server, worker, Redis, storing process): "
          f"{extra.get('product_cpu_ms_per_stored_message')} ms; "
          f"bare server per event: {extra.get('bare_cpu_ms_per_event')} ms")  # fmt: skip
    print(f"  consoles connected (hello): {extra.get('hellos')}, dropped: {extra.get('dropped')}")

    product, hook = figures[0], figures[1]
    checks = [
        ("100% delivered (stored -> console)", product["delivered_pct"] == 100.0),
        (f"p95 < {args.p95_ms:g} ms (stored -> console)", (product["p95_ms"] or 1e12) < args.p95_ms),
        ("100% delivered (webhook -> console)", hook["delivered_pct"] == 100.0),
        (f"p95 < {args.webhook_p95_ms:g} ms (webhook POST -> console)", (hook["p95_ms"] or 1e12) < args.webhook_p95_ms),
    ]
    print()
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    passed = all(ok for _, ok in checks)
    result.update({"figures": figures, "cpu_seconds": cpu, "extra": extra, "checks": dict(checks), "passed": passed})
    path = results_dir / f"console-fanout-{run_id}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"\n{'PASS' if passed else 'FAIL'} (figures in {path.relative_to(ROOT)})")
    return 0 if passed else 1


async def fanout(
    args: argparse.Namespace, work: Path, log_dir: Path, run_id: str, procs: list[subprocess.Popen]
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    info_file = work / "graph.json"
    fake = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m", "bench.fake_graph_server", "--token", TOKEN,
         "--info-file", str(info_file), "--max-seconds", str(args.seconds * 3 + 900)],
        cwd=ROOT, stdout=(log_dir / "fanout-fake-graph.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    procs.append(fake)
    deadline = time.monotonic() + 30
    while not info_file.exists():
        if fake.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the fake Graph server did not start")
        await asyncio.sleep(0.05)
    graph = json.loads(info_file.read_text())

    env = product_env(work, graph["graph_url"], argparse.Namespace(db="sqlite", number_limit=250))
    manage = [sys.executable, str(ROOT / "manage.py")]
    print("Preparing the product (migrations, users, sessions) …", flush=True)
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
    sessions = work / SESSION_FILE
    subprocess.run(
        [sys.executable, "-m", "bench.console_fanout", "--setup-child", str(args.consoles), "--out", str(sessions),
         *([] if args.bot else ["--taken-over"])],
        env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    cookies = json.loads(sessions.read_text())
    port = free_port()
    serve = subprocess.Popen(
        ["taskset", "-c", "0", *manage, "serve", "--no-migrate", "--port", str(port)],
        env=env, cwd=ROOT, stdout=(log_dir / "fanout-product.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    procs.append(serve)
    wait_http(f"http://127.0.0.1:{port}/healthz", seconds=120, proc=serve)

    consoles = Consoles()
    print(f"Connecting {args.consoles} consoles …", flush=True)
    await consoles.open(f"ws://127.0.0.1:{port}/ws/console/", cookies=cookies, origin=f"http://127.0.0.1:{port}",
                        count=args.consoles)  # fmt: skip
    deadline = time.monotonic() + 60
    while consoles.hellos < args.consoles and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    hellos = consoles.hellos
    await asyncio.sleep(1)

    print(f"Storing {int(args.rate * args.seconds)} messages at {args.rate:g}/s …", flush=True)
    stored_file = work / "stored.json"
    cpu0 = cpu_of_tree([serve.pid])
    store = await asyncio.create_subprocess_exec(
        "taskset", "-c", "0", sys.executable, "-m", "bench.console_fanout", "--store-child", "--rate", str(args.rate),
        "--seconds", str(args.seconds), "--out", str(stored_file), "--run-id", run_id, env=env, cwd=str(ROOT),
    )  # fmt: skip
    await store.wait()
    if store.returncode != 0:
        raise SystemExit("the storing process failed")
    stored_result = json.loads(stored_file.read_text())
    stored = {int(k): v for k, v in stored_result["stored"].items()}
    store_cpu = stored_result["cpu_seconds"]
    await drain(consoles, stored, by_text=False, seconds=5)
    cpu_store_phase = cpu_delta(cpu0, cpu_of_tree([serve.pid]))
    cpu_store_phase["storing process"] = store_cpu
    product = latency_figures("WhatsApp IA: stored -> console", stored, consoles)
    print(f"  {product}", flush=True)

    await settle(work / "var" / "redis.sock")  # the worker is done with the stored messages
    warmup = webhook_bodies(args.webhooks + 5, run_id)
    await post_webhooks(port, warmup[args.webhooks :], args.webhook_rate)  # warm-up, not measured
    await asyncio.sleep(3)
    print(f"POSTing {args.webhooks} webhooks at {args.webhook_rate:g}/s …", flush=True)
    started = await post_webhooks(port, warmup[: args.webhooks], args.webhook_rate)
    await drain(consoles, started, by_text=True, seconds=10)
    hook = latency_figures("WhatsApp IA: webhook POST -> console", started, consoles, by_text=True)
    print(f"  {hook}", flush=True)
    dropped = consoles.closed
    frame_bytes = round(sum(consoles.frame_sizes) / max(1, len(consoles.frame_sizes)))
    await consoles.close()
    stop_process(serve)

    print("Baseline: a bare websockets broadcast server …", flush=True)
    bare_port, sent_file = free_port(), work / "bare.json"
    bare = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "bench.console_fanout", "--bare-child", str(bare_port),
         "--consoles", str(args.consoles), "--rate", str(args.rate), "--seconds", str(args.seconds),
         "--frame-size", str(frame_bytes), "--out", str(sent_file)],
        cwd=ROOT, stdout=(log_dir / "fanout-bare.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    procs.append(bare)
    await asyncio.sleep(1)
    baseline_consoles = Consoles()
    await baseline_consoles.open(f"ws://127.0.0.1:{bare_port}/", cookies=None, origin=f"http://127.0.0.1:{bare_port}",
                                 count=args.consoles)  # fmt: skip
    while bare.poll() is None:
        await asyncio.sleep(0.5)
    bare_result = json.loads(sent_file.read_text())
    cpu_bare = {"bare server": bare_result["cpu_seconds"]}
    sent = {int(k): v for k, v in bare_result["sent"].items()}
    await baseline_consoles.close()
    baseline = latency_figures("bare websockets broadcast", sent, baseline_consoles)
    print(f"  {baseline}; connect failures {baseline_consoles.failed[:3]}", flush=True)
    cpu = {"the fan-out (product)": cpu_store_phase, "the fan-out (bare websockets server)": cpu_bare}
    extra = {
        "hellos": hellos,
        "dropped": dropped,
        "connect_failures": consoles.failed[:5],
        "frame_bytes": frame_bytes,
        "product_cpu_ms_per_stored_message": round(1000 * sum(cpu_store_phase.values()) / max(1, len(stored)), 2),
        "bare_cpu_ms_per_event": round(1000 * sum(cpu_bare.values()) / max(1, len(sent)), 2),
    }
    return [product, hook, baseline], cpu, extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--consoles", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="messages stored per second (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--webhooks", type=int, default=100, help="webhook POSTs after the fan-out (default 100)")
    parser.add_argument("--webhook-rate", type=float, default=5.0)
    parser.add_argument("--p95-ms", type=float, default=100.0)
    parser.add_argument("--webhook-p95-ms", type=float, default=300.0)
    parser.add_argument("--send-transactions", type=int, default=400)
    parser.add_argument("--send-rate", type=float, default=20.0, help="transactions/s of the send-cost part")
    parser.add_argument("--before-rev", default="9b34c8d", help="the commit whose events.py is 'before'")
    parser.add_argument("--send-cost-only", action="store_true")
    parser.add_argument("--bot", action="store_true",
                        help="the stored messages' chats are the bot's (it answers each: more events, more CPU); "
                             "by default agents took them over")  # fmt: skip
    parser.add_argument("--taken-over", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-send-cost", dest="send_cost", action="store_false")
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", default="run", help=argparse.SUPPRESS)
    parser.add_argument("--frame-size", type=int, default=600, help=argparse.SUPPRESS)
    parser.add_argument("--transactions", type=int, default=3000, help=argparse.SUPPRESS)
    parser.add_argument("--before-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--setup-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--send-cost-child", choices=("before", "after"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup_child is not None:
        setup_product(args.setup_child, args.out, taken_over=args.taken_over)
        return 0
    if args.store_child:
        store_messages(args.rate, args.seconds, args.out, args.run_id)
        return 0
    if args.bare_child is not None:
        bare_server(args.bare_child, args.consoles, args.rate, args.seconds, args.frame_size, args.out)
        return 0
    if args.send_cost_child:
        send_cost(args.send_cost_child, args.transactions, args.rate, args.out, args.before_file.read_text())
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
