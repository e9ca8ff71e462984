"""End to end, the way a customer feels it: from each webhook POST to its reply at the provider.

    bash bench/e2e_pipeline.sh                       # embedded default (SQLite, embedded Redis), 80/s for 60 s
    bash bench/e2e_pipeline.sh --db mariadb          # the same load on MariaDB + Redis
    bash bench/e2e_pipeline.sh --rate 20 --seconds 30 --no-baseline

Signed Meta text messages from distinct customers are POSTed at a steady rate (open loop: a slow
answer does not slow the load down) to the product started as `bin/run` starts it
(`manage.py serve`: the product's web server, the pipeline runner, a Celery worker and the scheduler), with a few rules
answering through the rule engine. A local fake Graph API (bench/fake_graph_server.py) records
when each reply arrives. Latency = arrival of the reply at the fake - start of the POST; the
k-th reply to a customer answers the customer's k-th message (replies are in order per
conversation). Beside it, in the same run, on the same fake and the same cores: a minimal
stateless bot (pywa on uvicorn, bench/stateless_bot.py) under the same load.

CPU: utime + stime of every process of the product (server, worker and its pool, scheduler,
Redis; MariaDB too with --db mariadb), from just before the load until the last reply, divided
by the replies. The product runs on core 0; the load generator, the fake Graph and this driver
on core 1.

Prints a table, a per-hop breakdown (POST -> message stored -> reply queued -> reply at the
provider) and PASS/FAIL against the targets; writes bench/results/e2e-<timestamp>.json.
Exit status 0 = PASS.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.outbound_throughput import get_json, stop_process

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "BENCH"  # noqa: S105 (the fake's token, loopback only)
APP_SECRET = "bench-secret"  # noqa: S105
PHONE_NUMBER_ID = "109990001112223"
FIXTURE = ROOT / "conversations" / "tests" / "fixtures" / "meta" / "message__text.json"

# The product's flow for the run: every text gets exactly one reply from the rule engine.
BENCH_RULES = [
    # step, input_text, priority, type, text, options, next_step
    ("inicio", "*", 100, "button", "¡Hola! Bienvenido. ¿En qué te ayudamos?", "Cotizar|Catálogo|Asesor", "menu"),
    ("menu", "catalogo, catálogo, 2", 20, "list", "Estos son nuestros materiales:",
     "Granito: Negro San Gabriel|Cuarzo: Blanco Polar|Mármol: Crema Marfil", "menu"),
    ("menu", "cotizar, 1", 10, "text", "Escríbeme las medidas del mesón.", "", "menu"),
    ("menu", "*", 100, "text", "No entendí tu opción. Escribe *menu*.", "", "menu"),
]  # fmt: skip
CUSTOMER_TEXTS = ("hola", "catalogo", "cotizar", "¿tienen granito negro?")


# --------------------------------------------------------------------------- processes and CPU


ROLES = (
    ("whatsapp_ia.server", "web server"),
    ("uvicorn", "web server"),
    ("stateless_bot", "web server"),
    ("manage.py pipeline", "pipeline runner"),
    (" worker", "worker"),
    (" beat", "scheduler"),
    ("redis-server", "redis"),
    ("mariadbd", "mariadb"),
    ("manage.py serve", "supervisor"),
)


def _role(pid: int) -> str:
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return next((role for needle, role in ROLES if needle in cmdline), "other")


def cpu_of_tree(root_pids: list[int]) -> dict[str, float]:
    """utime + stime (seconds) of the given processes and all their descendants, threads included,
    by role (web server, worker, scheduler, redis, mariadb, ...)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    wanted = set(root_pids)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                grew = True
    by_role: dict[str, float] = defaultdict(float)
    for pid in wanted:
        by_role[_role(pid)] += times.get(pid, 0.0)
    return dict(by_role)


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: after.get(role, 0.0) - before.get(role, 0.0) for role in sorted(set(before) | set(after))}


def wait_http(url: str, *, seconds: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{proc.args[:4]} exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on {url} within {seconds:.0f} s")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- load


@dataclass
class Post:
    wamid: str
    wa_id: str
    body: bytes
    started: float = 0.0
    status: int = 0


def make_posts(*, prefix: str, customers: int, count: int, run: str) -> list[Post]:
    """`count` signed deliveries from `customers` distinct customers, round robin (their k-th texts in turn)."""
    template = json.loads(FIXTURE.read_text())
    posts = []
    now = int(time.time())
    for i in range(count):
        customer, k = i % customers, i // customers
        wa_id = f"{prefix}{customer:07d}"
        payload = copy.deepcopy(template)
        value = payload["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
        # Current payloads carry the business-scoped user id beside wa_id (pywa 4 requires it).
        value["contacts"][0].update({"wa_id": wa_id, "user_id": f"CO.{wa_id}"})
        value["contacts"][0]["profile"]["name"] = f"Cliente {customer}"
        message = value["messages"][0]
        wamid = f"wamid.{run}.{prefix}.{i}"
        message.update({"from": wa_id, "from_user_id": f"CO.{wa_id}", "id": wamid, "timestamp": str(now)})
        message["text"]["body"] = CUSTOMER_TEXTS[k % len(CUSTOMER_TEXTS)]
        posts.append(Post(wamid, wa_id, json.dumps(payload).encode()))
    return posts


async def _post_once(pool: asyncio.Queue, host: str, port: int, post: Post) -> None:
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(post.body)}\r\n\r\n"
    ).encode()
    try:
        reader, writer = pool.get_nowait()
    except asyncio.QueueEmpty:
        reader, writer = await asyncio.open_connection(host, port)
    try:
        post.started = time.time()
        writer.write(head + post.body)
        status_line = await asyncio.wait_for(reader.readline(), 30)
        post.status = int(status_line.split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        pool.put_nowait((reader, writer))
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        post.status = post.status or -1
        writer.close()


async def _load(host: str, port: int, posts: list[Post], rate: float) -> None:
    pool: asyncio.Queue = asyncio.Queue()
    tasks = []
    start = time.monotonic() + 0.2
    for i, post in enumerate(posts):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_post_once(pool, host, port, post)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()


def run_load(host: str, port: int, posts: list[Post], rate: float) -> None:
    asyncio.run(_load(host, port, posts, rate))


def wait_replies(control_url: str, *, expected: int, drain: float) -> int:
    """Wait until the fake has `expected` more sends than at the start of the load, or nothing moves for `drain` s."""
    last, last_change = -1, time.monotonic()
    while True:
        sent = get_json(control_url + "/stats")["sent"]
        if sent >= expected:
            return sent
        if sent != last:
            last, last_change = sent, time.monotonic()
        elif time.monotonic() - last_change > drain:
            return sent
        time.sleep(0.25)


# --------------------------------------------------------------------------- figures


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))]


@dataclass
class RunFigures:
    name: str
    posts: int
    non_2xx: int
    replies: int
    unanswered: int
    duplicates: int
    latencies_ms: list[float] = field(repr=False)
    cpu_seconds: float
    wall_seconds: float
    matched: dict[str, list[tuple[float, float]]] = field(repr=False, default_factory=dict)
    cpu_by_role: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        lat = self.latencies_ms
        answered = self.replies - self.duplicates
        return {
            "name": self.name,
            "posts": self.posts,
            "non_2xx": self.non_2xx,
            "replies": self.replies,
            "unanswered": self.unanswered,
            "duplicates": self.duplicates,
            "p50_ms": pct(lat, 50),
            "p95_ms": pct(lat, 95),
            "p99_ms": pct(lat, 99),
            "max_ms": max(lat) if lat else None,
            "cpu_seconds": round(self.cpu_seconds, 2),
            "cpu_ms_per_reply": round(1000 * self.cpu_seconds / answered, 2) if answered else None,
            "wall_seconds": round(self.wall_seconds, 1),
            "cpu_ms_per_reply_by_role": {
                role: round(1000 * seconds / answered, 2) for role, seconds in self.cpu_by_role.items()
            }
            if answered
            else {},
        }


def match_replies(name: str, posts: list[Post], sent: list[dict[str, Any]], *, cpu: float, wall: float) -> RunFigures:
    """Pair each customer's k-th POST with the k-th reply the fake got for that customer."""
    by_customer: dict[str, list[Post]] = defaultdict(list)
    for post in posts:
        by_customer[post.wa_id].append(post)
    arrivals: dict[str, list[float]] = defaultdict(list)
    for s in sent:
        if s.get("to") in by_customer:
            arrivals[s["to"]].append(s["at"])
    latencies, unanswered, duplicates, matched = [], 0, 0, {}
    for wa_id, customer_posts in by_customer.items():
        customer_posts.sort(key=lambda p: p.started)
        ats = sorted(arrivals.get(wa_id, []))
        unanswered += max(0, len(customer_posts) - len(ats))
        duplicates += max(0, len(ats) - len(customer_posts))
        pairs = list(zip((p.started for p in customer_posts), ats, strict=False))
        matched[wa_id] = pairs
        latencies += [(at - started) * 1000 for started, at in pairs]
    replies = sum(len(v) for v in arrivals.values())
    non_2xx = sum(1 for p in posts if not 200 <= p.status < 300)
    return RunFigures(name, len(posts), non_2xx, replies, unanswered, duplicates, latencies, cpu, wall, matched)


#: A reply later than this is "late" for the burst report; late replies posted within BURST_GAP seconds of each other
#: form one burst (one stall of the product: a collection, a flush, a lock wait), so the report tells a few long
#: stalls from latency spread over the whole run.
LATE_MS = 50.0
BURST_GAP = 0.3


def late_bursts(figures: RunFigures, *, late_ms: float = LATE_MS, gap: float = BURST_GAP) -> list[dict[str, Any]]:
    """The late replies grouped into bursts by when their messages were posted: each burst's start (seconds since
    the first post), its number of late replies and the longest latency among them. Pure."""
    pairs = sorted(pair for customer in figures.matched.values() for pair in customer)
    if not pairs:
        return []
    first = pairs[0][0]
    bursts: list[dict[str, Any]] = []
    last_late = None
    for started, at in pairs:
        latency = (at - started) * 1000
        if latency <= late_ms:
            continue
        if last_late is None or started - last_late > gap:
            bursts.append({"at_s": round(started - first, 2), "replies": 0, "max_ms": 0.0})
        bursts[-1]["replies"] += 1
        bursts[-1]["max_ms"] = round(max(bursts[-1]["max_ms"], latency), 1)
        last_late = started
    return bursts


def hop_breakdown(posts: list[Post], figures: RunFigures, rows: dict[str, Any]) -> list[tuple[str, dict]]:
    """Per hop, from the product's own timestamps: POST -> inbound stored -> reply queued -> reply at the fake."""
    started = {p.wamid: p.started for p in posts}
    stored, queued, provider = [], [], []
    inbound_by_conv: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for wamid, conv, created in rows["inbound"]:
        inbound_by_conv[conv].append((created, wamid))
    outbound_by_conv: dict[int, list[float]] = defaultdict(list)
    for conv, created in rows["outbound"]:
        outbound_by_conv[conv].append(created)
    arrival_of = {}
    for pairs in figures.matched.values():
        for post_started, at in pairs:
            arrival_of[post_started] = at
    for conv, ins in inbound_by_conv.items():
        ins.sort()
        outs = sorted(outbound_by_conv.get(conv, []))
        for (created, wamid), out_created in zip(ins, outs, strict=False):
            t0 = started.get(wamid)
            if t0 is None:
                continue
            stored.append((created - t0) * 1000)
            queued.append((out_created - created) * 1000)
            if t0 in arrival_of:
                provider.append((arrival_of[t0] - out_created) * 1000)
    hops = [
        ("POST -> message stored (webhook, drain, parse)", stored),
        ("stored -> reply queued (process, rule engine)", queued),
        ("queued -> reply at the provider (flush, send)", provider),
    ]
    return [(name, {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95), "p99_ms": pct(v, 99), "n": len(v)}) for name, v in hops]


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# --------------------------------------------------------------------------- the two systems


def product_env(work: Path, graph_url: str, args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DB_HOST", "DB_NAME")}
    env.update(
        {
            "WIA_VAR_DIR": str(work / "var"),
            "META_GRAPH_URL": graph_url,
            "META_TOKEN": TOKEN,
            "PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "META_APP_SECRET": APP_SECRET,
            "VERIFY_TOKEN": "bench-verify",
            "LOG_LEVEL": "WARNING",
            "OUTBOUND_NUMBER_LIMIT_PER_SECOND": str(args.number_limit),
            "OUTBOUND_RATE_PER_SECOND": str(args.number_limit - 2),
            "DJANGO_SUPERUSER_PASSWORD": "bench-admin-password",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if args.db == "mariadb":
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


def product_setup() -> None:
    """Run inside the product's environment: the rules the run answers with."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_ia.settings.base")
    django.setup()
    from flows.models import Rule

    # The product's Redis starts with the product, after this: no process is there to hear of the rules
    # changing (each save warns so), and the product reads them fresh when it starts.
    logging.getLogger("flows.rules_cache").setLevel(logging.ERROR)
    Rule.objects.all().delete()
    for step, input_text, prio, rtype, text, options, next_step in BENCH_RULES:
        Rule.objects.create(
            step=step,
            input_text=input_text,
            priority=prio,
            response_type=rtype,
            response_text=text,
            options=options,
            next_step=next_step,
        )


def product_rows(prefix: str) -> None:
    """Run inside the product's environment: the run's inbound and outbound message times, as JSON."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_ia.settings.base")
    django.setup()
    from conversations.models import Message

    base = Message.objects.filter(conversation__contact__external_id__startswith=prefix)
    inbound = [
        (m, c, t.timestamp())
        for m, c, t in base.filter(direction="in").values_list("provider_message_id", "conversation_id", "created_at")
    ]
    out_rows = base.filter(direction="out").values_list("conversation_id", "created_at")
    outbound = [(c, t.timestamp()) for c, t in out_rows]
    json.dump({"inbound": inbound, "outbound": outbound}, sys.stdout)


def measure(
    name: str,
    *,
    base_url: str,
    control_url: str,
    posts: list[Post],
    warmup: list[Post],
    rate: float,
    drain: float,
    pids: list[int],
) -> RunFigures:
    host, port = base_url.removeprefix("http://").split(":")
    before = get_json(control_url + "/stats")["sent"]
    run_load(host, int(port), warmup, rate=min(rate, 20))
    wait_replies(control_url, expected=before + len(warmup), drain=drain)
    before = get_json(control_url + "/stats")["sent"]
    cpu0, wall0 = cpu_of_tree(pids), time.monotonic()
    print(f"  {name}: {len(posts)} messages at {rate:g}/s …", flush=True)
    run_load(host, int(port), posts, rate=rate)
    wait_replies(control_url, expected=before + len(posts), drain=drain)
    cpu_by_role, wall = cpu_delta(cpu0, cpu_of_tree(pids)), time.monotonic() - wall0
    sent = get_json(control_url + "/sent")
    figures = match_replies(name, posts, sent, cpu=sum(cpu_by_role.values()), wall=wall)
    figures.cpu_by_role = cpu_by_role
    return figures


def fake_graph_start(
    work: Path, log: Path, *, max_seconds: float, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, dict[str, Any]]:
    """The fake Graph in a process of its own on core 1; its addresses ({graph_url, control_url}) once serving."""
    info_file = work / "graph.json"
    fake = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m", "bench.fake_graph_server", "--token", TOKEN,
         "--info-file", str(info_file), "--max-seconds", str(max_seconds), *extra],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not info_file.exists():
        if fake.poll() is not None or time.monotonic() > deadline:
            stop_process(fake)
            raise SystemExit("the fake Graph server did not start")
        time.sleep(0.05)
    return fake, json.loads(info_file.read_text())


def interpreter() -> str:
    """The Python the product and the bot run on: its version and build matter (bin/lib/python.sh)."""
    return f"{platform.python_version()} ({os.path.realpath(sys.executable)})"


def baseline_venv() -> Path:
    venv = ROOT / "var" / "bench-baseline-venv"
    req = ROOT / "bench" / "requirements-baseline.txt"
    want = hashlib.sha256(req.read_bytes()).hexdigest()
    marker = venv / ".requirements.sha"
    installed = marker.read_text().strip() if marker.exists() else ""
    if installed != want or not (venv / "bin" / "python").exists():
        print("  installing the baseline bot's packages (pywa, uvicorn) into var/bench-baseline-venv …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        log = Path(os.environ.get("LOG", venv)) / "e2e-baseline-pip.log"
        with log.open("w") as out:
            subprocess.run([str(venv / "bin" / "pip"), "install", "-r", str(req)], check=True, stdout=out, stderr=out)
        marker.write_text(want)
    return venv / "bin" / "python"


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="wia-e2e-"))
    log_dir = Path(os.environ.get("LOG", work))
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    count = int(args.rate * args.seconds)
    procs: list[subprocess.Popen] = []
    figures: list[RunFigures] = []
    hops: list[tuple[str, dict]] = []
    try:
        fake, graph = fake_graph_start(work, log_dir / "e2e-fake-graph.log", max_seconds=args.seconds * 4 + 900)
        procs.append(fake)

        if args.baseline:
            python = baseline_venv()
            port = free_port()
            bot_env = {
                **os.environ,
                "BOT_GRAPH_URL": graph["graph_url"],
                "BOT_PHONE_ID": PHONE_NUMBER_ID,
                "BOT_TOKEN": TOKEN,
                "BOT_APP_SECRET": APP_SECRET,
            }
            bot = subprocess.Popen(
                ["taskset", "-c", "0", str(python), str(ROOT / "bench" / "stateless_bot.py"), "--port", str(port)],
                env=bot_env, stdout=(log_dir / "e2e-bot.log").open("w"), stderr=subprocess.STDOUT,
            )  # fmt: skip
            procs.append(bot)
            wait_http(f"http://127.0.0.1:{port}/webhook?hub.mode=subscribe&hub.verify_token=bench-verify&hub.challenge=1",
                      seconds=60, proc=bot)  # fmt: skip
            figures.append(
                measure(
                    "stateless bot (pywa + uvicorn)",
                    base_url=f"http://127.0.0.1:{port}",
                    control_url=graph["control_url"],
                    posts=make_posts(prefix="5710", customers=args.customers, count=count, run=run_id),
                    warmup=make_posts(prefix="5711", customers=20, count=20, run=run_id),
                    rate=args.rate,
                    drain=args.drain,
                    pids=[bot.pid],
                )
            )
            stop_process(bot)

        env = product_env(work, graph["graph_url"], args)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
        subprocess.run([sys.executable, "-m", "bench.e2e_pipeline", "--setup-product"], env=env, cwd=ROOT, check=True)
        port = free_port()
        serve = subprocess.Popen(
            ["taskset", "-c", "0", *manage, "serve", "--no-migrate", "--port", str(port),
             "--concurrency", str(args.concurrency)],
            env=env, cwd=ROOT, stdout=(log_dir / "e2e-product.log").open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(serve)
        wait_http(f"http://127.0.0.1:{port}/healthz", seconds=120, proc=serve)
        pids = [serve.pid]
        if args.db == "mariadb":
            pids += [int(Path(p).read_text()) for p in args.server_pid_files if Path(p).exists()]
        product_posts = make_posts(prefix="5720", customers=args.customers, count=count, run=run_id)
        product = measure(
            f"WhatsApp IA ({args.db})",
            base_url=f"http://127.0.0.1:{port}",
            control_url=graph["control_url"],
            posts=product_posts,
            warmup=make_posts(prefix="5721", customers=20, count=20, run=run_id),
            rate=args.rate,
            drain=args.drain,
            pids=pids,
        )
        figures.append(product)
        out = subprocess.run(
            [sys.executable, "-m", "bench.e2e_pipeline", "--product-rows", "5720"],
            env=env, cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        hops = hop_breakdown(product_posts, product, json.loads(out.stdout))
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"End to end: {count:,} signed Meta text messages from {args.customers:,} customers at {args.rate:g}/s "
          f"for {args.seconds:g} s; product on core 0, load + fake Graph on core 1")  # fmt: skip
    print(f"Python (product and bot): {interpreter()}")
    header = ("system", "posts", "non-2xx", "replies", "unanswered", "twice", "p50 ms", "p95 ms", "p99 ms", "max ms",
              "CPU s", "CPU ms/reply")  # fmt: skip
    keys = ("name", "posts", "non_2xx", "replies", "unanswered", "duplicates", "p50_ms", "p95_ms", "p99_ms", "max_ms",
            "cpu_seconds", "cpu_ms_per_reply")  # fmt: skip
    rows = [[fmt(f.row()[k]) for k in keys] for f in figures]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    for f in figures:
        by_role = f.row()["cpu_ms_per_reply_by_role"]
        if by_role:
            shares = ", ".join(f"{role} {ms:.1f}" for role, ms in sorted(by_role.items(), key=lambda kv: -kv[1]))
            print(f"  CPU ms per reply, {f.name}: {shares}")
    if hops:
        print("\nWhere the product's time goes (per message):")
        for name, h in hops:
            print(f"  {name:<52} p50 {fmt(h['p50_ms']):>9} ms  p95 {fmt(h['p95_ms']):>9} ms  "
                  f"p99 {fmt(h['p99_ms']):>9} ms  (n={h['n']:,})")  # fmt: skip

    bursts = {f.name: late_bursts(f) for f in figures}
    print(f"\nReplies later than {LATE_MS:g} ms, by when their messages were posted (a burst: one stall):")
    for name, found in bursts.items():
        late = sum(b["replies"] for b in found)
        biggest = sorted(found, key=lambda b: -b["replies"])[:5]
        said = "; ".join(f"{b['replies']} at {b['at_s']:g} s (up to {b['max_ms']:g} ms)" for b in biggest)
        counted = f"{late:,} in {len(found)} burst{'s' * (len(found) != 1)}"
        print(f"  {name}: {counted}" + (f"; largest: {said}" if said else ""))

    product = figures[-1].row()
    checks = [
        ("every message answered", product["unanswered"] == 0 and product["non_2xx"] == 0),
        ("no message answered twice", product["duplicates"] == 0),
        (f"p95 <= {args.p95_ms:g} ms", (product["p95_ms"] or 1e12) <= args.p95_ms),
        (f"p99 <= {args.p99_ms:g} ms", (product["p99_ms"] or 1e12) <= args.p99_ms),
        (f"CPU <= {args.cpu_ms:g} ms per answered message", (product["cpu_ms_per_reply"] or 1e12) <= args.cpu_ms),
    ]
    print()
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    passed = all(ok for _, ok in checks)
    result = {
        "run": run_id,
        "args": {k: v for k, v in vars(args).items() if k != "server_pid_files"},
        "python": interpreter(),
        "figures": [f.row() for f in figures],
        "hops": dict(hops),
        "late_bursts": bursts,
        "checks": dict(checks),
        "passed": passed,
    }
    path = results_dir / f"e2e-{args.db}-{run_id}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"\n{'PASS' if passed else 'FAIL'} (figures in {path.relative_to(ROOT)})")
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=80.0, help="messages per second (default 80)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (default 60)")
    parser.add_argument("--customers", type=int, default=2000, help="distinct customers (default 2000)")
    parser.add_argument("--db", choices=("sqlite", "mariadb"), default="sqlite")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes, as bin/run (default 2)")
    parser.add_argument("--number-limit", type=int, default=250,
                        help="OUTBOUND_NUMBER_LIMIT_PER_SECOND for the run (the fake enforces none)")  # fmt: skip
    parser.add_argument("--drain", type=float, default=30.0, help="give up waiting after this long without a reply")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("--p95-ms", type=float, default=150.0)
    parser.add_argument("--p99-ms", type=float, default=300.0)
    parser.add_argument("--cpu-ms", type=float, default=10.0)
    parser.add_argument("--server-pid-files", nargs="*", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--setup-product", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--product-rows", metavar="PREFIX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup_product:
        product_setup()
        return 0
    if args.product_rows:
        product_rows(args.product_rows)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
