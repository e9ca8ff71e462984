"""Outbound throughput benchmark driver (run by bench/outbound_throughput.sh, which starts MariaDB + Redis).

10,000 replies queued through `message_queue_outbound` (5 to each of 2,000 numbers, 24-hour window
open), delivered by real Celery workers (threads pool, core 0) to a FakeGraph in its own process
(core 1) that enforces Meta's 80 messages/s per business number and a per-recipient pair interval,
answering 130429 / 131056 beyond them. Measures the sustained send rate at the fake and the
rate-limit errors it returned; PASS = at least 76 messages/s sustained, no rate-limit error, all sent.

Baseline in the same run: the fake's own capacity, a burst of unpaced raw HTTP sends (8 threads,
core 0) to a fake instance without limits.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "BENCH"  # noqa: S105 - the fake server's fixed token
TARGET_RATE = 76.0


# --------------------------------------------------------------------------- processes


def start_fake(
    work: Path, name: str, *, rate_limit: int, pair_interval: float, max_seconds: float, gc: bool = False
) -> tuple[Any, dict]:
    """A FakeGraph process pinned to core 1; returns (process, info with graph_url / control_url)."""
    info_file = work / f"{name}.json"
    cmd = ["taskset", "-c", "1", sys.executable, "-m", "bench.fake_graph_server", "--token", TOKEN]
    cmd += ["--rate-limit", str(rate_limit), "--pair-interval", str(pair_interval)]
    cmd += ["--info-file", str(info_file), "--max-seconds", str(max_seconds)] + (["--gc"] if gc else [])
    log = (Path(os.environ.get("LOG", work)) / f"fake-graph-{name}.log").open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not info_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the fake Graph server did not start (see {log.name})")
        time.sleep(0.05)
    return proc, json.loads(info_file.read_text())


def stop_process(proc: subprocess.Popen, *, grace: float = 30.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads) in seconds; None when it is gone."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_pid(path: str | None) -> int | None:
    try:
        return int(Path(path).read_text().strip()) if path else None
    except (OSError, ValueError):
        return None


def redis_commands(client: Any) -> dict[str, int]:
    """Calls per Redis command so far (INFO commandstats)."""
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in client.info("commandstats").items()}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


# --------------------------------------------------------------------------- baseline: the fake's capacity


def baseline_client(url: str, *, seconds: float, threads: int) -> dict[str, Any]:
    """Unpaced sends from `threads` keep-alive sessions for `seconds`; every recipient distinct."""
    import requests

    endpoint = f"{url}/v25.0/{PHONE_NUMBER_ID}/messages"
    counts = collections.Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def run(worker: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        n = ok = 0
        while time.monotonic() < stop_at:
            payload = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": f"57{worker:02d}{n:08d}",
                "type": "text",
                "text": {"body": "baseline", "preview_url": False},
            }
            response = session.post(endpoint, json=payload, headers=headers, timeout=10)
            n += 1
            ok += response.status_code == 200
        with lock:
            counts["requests"] += n
            counts["ok"] += ok

    started = time.monotonic()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    return {
        "threads": threads,
        "seconds": round(elapsed, 3),
        "requests": counts["requests"],
        "ok": counts["ok"],
        "rate": round(counts["ok"] / elapsed, 1),
    }


def measure_baseline(work: Path, *, seconds: float, threads: int) -> dict[str, Any]:
    proc, info = start_fake(work, "baseline", rate_limit=0, pair_interval=0.0, max_seconds=seconds + 60)
    try:
        cmd = ["taskset", "-c", "0", sys.executable, "-m", "bench.outbound_throughput", "baseline-client"]
        cmd += ["--url", info["graph_url"], "--seconds", str(seconds), "--threads", str(threads)]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        result["fake"] = get_json(info["control_url"] + "/stats")
    finally:
        stop_process(proc)
    return result


# --------------------------------------------------------------------------- the product's side


def setup_conversations(*, numbers: int) -> list[Any]:
    """One Meta channel, `numbers` contacts and conversations with the 24-hour window open."""
    from django.utils import timezone

    from conversations.models import Channel, Contact, Conversation

    channel = Channel.objects.create(name="Bench", provider="meta", external_id=PHONE_NUMBER_ID)
    contacts = Contact.objects.bulk_create(
        [
            Contact(provider="meta", external_id=f"5730{i:08d}", profile_name=f"Cliente {i}", phone=f"+5730{i:08d}")
            for i in range(numbers)
        ],
        batch_size=1000,
    )
    now = timezone.now()
    Conversation.objects.bulk_create(
        [
            Conversation(contact=c, channel=channel, step="inicio", last_inbound_at=now, last_activity_at=now)
            for c in contacts
        ],
        batch_size=1000,
    )
    return list(Conversation.objects.select_related("channel", "contact").order_by("id"))


def queue_messages(conversations: list[Any], *, per_conversation: int) -> int:
    """Queue replies through the product service: conversation by conversation, 1/5 ... 5/5."""
    from conversations.providers.base import OutboundMessage
    from conversations.services.outbound import message_queue_outbound

    queued = 0
    for k in range(1, per_conversation + 1):
        for conversation in conversations:
            text = f"Respuesta {k}/{per_conversation} para {conversation.contact.external_id}"
            message_queue_outbound(conversation=conversation, outbound=OutboundMessage(kind="text", to="", text=text))
            queued += 1
    return queued


def status_counts() -> dict[str, int]:
    from django.db.models import Count

    from conversations.models import Message

    rows = Message.objects.filter(direction="out").values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def attempts_histogram() -> dict[str, int]:
    from django.db.models import Count

    from conversations.models import Message

    rows = Message.objects.filter(direction="out").values("attempts").annotate(n=Count("id")).order_by("attempts")
    return {str(row["attempts"]): row["n"] for row in rows}


def failed_reasons() -> dict[str, int]:
    from django.db.models import Count

    from conversations.models import Message

    rows = Message.objects.filter(direction="out", status="failed").values("error_code").annotate(n=Count("id"))
    return {row["error_code"]: row["n"] for row in rows}


def start_workers(log_path: Path, *, concurrency: int) -> subprocess.Popen:
    celery = str(Path(sys.executable).with_name("celery"))
    cmd = ["taskset", "-c", "0", celery, "-A", "whatsapp_ia", "worker", "--pool=threads"]
    cmd += [f"--concurrency={concurrency}", "--without-mingle", "--without-gossip", "--loglevel=WARNING"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


# --------------------------------------------------------------------------- analysis


def rate_figures(times: list[float]) -> dict[str, Any]:
    """Overall and middle-80% rates, the busiest 1-s window (the fake's own definition) and per-second spread."""
    times = sorted(times)
    n = len(times)
    if n < 10:
        return {"sent": n}
    span = times[-1] - times[0]
    lo, hi = int(0.1 * n), int(0.9 * n) - 1
    middle_span = times[hi] - times[lo]
    busiest, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    seconds = collections.Counter(int(t - times[0]) for t in times)
    per_second = [seconds.get(s, 0) for s in range(1, int(span))]  # whole seconds, first and last left out
    full_seconds = sorted(per_second)
    return {
        "sent": n,
        "first_to_last_s": round(span, 3),
        "overall_rate": round((n - 1) / span, 2) if span else None,
        "middle80_rate": round((hi - lo) / middle_span, 2) if middle_span else None,
        "middle80_window_s": round(middle_span, 3),
        "busiest_1s_window": busiest,
        "per_second_min": full_seconds[0] if full_seconds else None,
        "per_second_median": full_seconds[len(full_seconds) // 2] if full_seconds else None,
        "per_second_max": full_seconds[-1] if full_seconds else None,
        "per_second": per_second,
    }


def order_violations(sent: list[dict[str, Any]]) -> int:
    """Recipients whose replies did not arrive as 1/5, 2/5, ... (the product promises per-conversation order)."""
    seen: dict[str, list[int]] = collections.defaultdict(list)
    for s in sorted(sent, key=lambda s: s["at"]):
        text = s.get("text") or ""
        try:
            seen[s["to"]].append(int(text.split(" ", 2)[1].split("/")[0]))
        except (IndexError, ValueError):
            continue
    return sum(1 for ks in seen.values() if ks != sorted(ks))


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key.ljust(width)} | {value}")


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {1})  # the driver sits with the fake, off the product's core
    work = Path(tempfile.mkdtemp(prefix="wia-outbound-"))
    log_dir = Path(os.environ.get("LOG", work))

    print(f"· Baseline: the fake's capacity, {args.baseline_threads} unpaced threads for {args.baseline_seconds} s")
    baseline = measure_baseline(work, seconds=args.baseline_seconds, threads=args.baseline_threads)

    fake, info = start_fake(
        work,
        "limited",
        rate_limit=args.rate_limit,
        pair_interval=args.pair_interval,
        max_seconds=args.timeout + 600,
        gc=args.fake_gc,
    )
    workers = None
    try:
        os.environ.update(
            {
                "META_GRAPH_URL": info["graph_url"],
                "META_TOKEN": TOKEN,
                "PHONE_NUMBER_ID": PHONE_NUMBER_ID,
                "OUTBOUND_RATE_PER_SECOND": str(args.rate),
                "OUTBOUND_RATE_BURST": "1",
                "OUTBOUND_NUMBER_LIMIT_PER_SECOND": str(args.rate_limit),  # the fake's limit, as Meta's
                "OUTBOUND_PAIR_INTERVAL_SECONDS": f"{args.pair_interval * 1.05:g}",
                "OUTBOUND_PAIR_BURST": "1",
            }
        )
        import django

        django.setup()
        from django.conf import settings

        numbers, per = args.numbers, args.messages // args.numbers
        print(f"· Setup: 1 channel, {numbers} contacts and conversations (window open), bulk-created")
        conversations = setup_conversations(numbers=numbers)
        started = time.monotonic()
        queued = queue_messages(conversations, per_conversation=per)
        setup_s = time.monotonic() - started
        import redis

        backlog = int(redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery"))
        print(
            f"· Queued {queued} replies through message_queue_outbound in {setup_s:.1f} s "
            f"({queued / setup_s:.0f}/s); {backlog} flush tasks waiting in Redis"
        )
        print(
            f"· Celery workers (threads, concurrency {args.concurrency}) on core 0; fake Graph on core 1 "
            f"(limits: {args.rate_limit}/s per number, pair interval {args.pair_interval} s); "
            f"sender paced at {settings.OUTBOUND_RATE_PER_SECOND:g}/s, "
            f"at most {settings.OUTBOUND_NUMBER_LIMIT_PER_SECOND - 1} counted per second until answered, "
            f"pair interval {settings.OUTBOUND_PAIR_INTERVAL_SECONDS:g} s"
        )
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        commands_before = redis_commands(broker)
        workers_started_at = time.time()
        workers = start_workers(log_dir / "celery-outbound.log", concurrency=args.concurrency)
        pids = {
            "workers": workers.pid,
            "mariadb": read_pid(args.mariadb_pid_file),
            "redis": read_pid(args.redis_pid_file),
        }
        cpu_before = {name: cpu_seconds(pid) or 0.0 for name, pid in pids.items()}
        cpu_before["workers"] = 0.0  # a new process
        print(f"  (worker pid {workers.pid})", flush=True)
        deadline = time.monotonic() + args.timeout
        last_print, last_sent, counts = time.monotonic(), 0, {}
        # The driver watches the fake (on core 1) every second and reads the product's statuses from
        # MariaDB (on core 0, the measured core) only for the progress line every 10 s and once the
        # fake has seen every send: a status query plus a new connection every second used to cost
        # the measured core a periodic stall.
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if workers.poll() is not None:
                print(f"! the Celery workers exited ({workers.returncode}); see {log_dir / 'celery-outbound.log'}")
                break
            fake_stats = get_json(info["control_url"] + "/stats")
            progress_due = time.monotonic() - last_print >= 10
            if not (progress_due or fake_stats["sent"] >= queued):
                continue
            counts = status_counts()
            if progress_due:
                rate = (fake_stats["sent"] - last_sent) / (time.monotonic() - last_print)
                last_print, last_sent = time.monotonic(), fake_stats["sent"]
                print(
                    f"  {time.time() - workers_started_at:5.0f} s: {fake_stats['sent']} sent at the fake "
                    f"({rate:.1f}/s lately), 130429: {fake_stats['rate_limit_errors']}, "
                    f"131056: {fake_stats['pair_limit_errors']}; product: {counts}",
                    flush=True,
                )
            if counts.get("queued", 0) + counts.get("sending", 0) == 0:
                break
        finished = counts.get("queued", 0) + counts.get("sending", 0) == 0
        elapsed = time.time() - workers_started_at
        cpu = {name: round((cpu_seconds(pid) or 0.0) - cpu_before[name], 2) for name, pid in pids.items()}
        commands_after = redis_commands(broker)
        commands = {
            k: v - commands_before.get(k, 0) for k, v in commands_after.items() if v - commands_before.get(k, 0)
        }
        fake_stats = get_json(info["control_url"] + "/stats")
        sent = get_json(info["control_url"] + "/sent")
        attempts, failures = attempts_histogram(), failed_reasons()
    finally:
        if workers is not None:
            stop_process(workers)
        stop_process(fake)

    figures = rate_figures([s["at"] for s in sent])
    first_send = min((s["at"] for s in sent), default=None)
    violations = order_violations(sent)
    rate_errors, pair_errors = fake_stats["rate_limit_errors"], fake_stats["pair_limit_errors"]
    all_sent = counts.get("sent", 0) == args.messages
    sustained = figures.get("middle80_rate") or 0.0
    passed = finished and all_sent and sustained >= TARGET_RATE and rate_errors == 0 and pair_errors == 0
    verdict = "PASS" if passed else "FAIL"

    print()
    print(
        f"Outbound throughput: {args.messages} replies to {args.numbers} numbers, fake Graph limits "
        f"{args.rate_limit}/s per number + pair interval {args.pair_interval} s"
    )
    print_table(
        [
            ("measure", "value"),
            (
                "baseline: fake capacity, unpaced, no limits",
                f"{baseline['rate']:.1f} messages/s "
                f"({baseline['ok']} in {baseline['seconds']:.1f} s, {baseline['threads']} threads)",
            ),
            (
                "sustained rate (middle 80% of sends)",
                f"{sustained:.2f} messages/s over {figures.get('middle80_window_s', 0):.1f} s",
            ),
            (
                "overall rate (first to last send)",
                f"{figures.get('overall_rate') or 0:.2f} messages/s over {figures.get('first_to_last_s', 0):.1f} s",
            ),
            (
                "workers start -> first send / -> all done",
                f"{(first_send or workers_started_at) - workers_started_at:.1f} s / {elapsed:.1f} s",
            ),
            (
                "sends per whole second min / median / max",
                f"{figures.get('per_second_min')} / "
                f"{figures.get('per_second_median')} / {figures.get('per_second_max')}",
            ),
            ("busiest 1-s window at the fake (limit)", f"{figures.get('busiest_1s_window')} ({args.rate_limit})"),
            (
                "the fake's garbage-collection pauses",
                "collector off (--fake-gc turns it on)"
                if not args.fake_gc
                else f"{(fake_stats.get('gc_pauses') or {}).get('count')}, longest "
                f"{(fake_stats.get('gc_pauses') or {}).get('longest_ms')} ms",
            ),
            ("accepted sends at the fake", str(fake_stats["sent"])),
            ("130429 rate-limit errors returned", str(rate_errors)),
            ("131056 pair-limit errors returned", str(pair_errors)),
            ("all answers of the fake", json.dumps(fake_stats["answers"])),
            ("product statuses", json.dumps(counts)),
            ("send attempts per message", json.dumps(attempts)),
            ("failed, by error code", json.dumps(failures) if failures else "none"),
            ("recipients whose replies arrived out of order", str(violations)),
            (
                "core 0 CPU while sending (workers, MariaDB, Redis)",
                f"{100 * sum(cpu.values()) / elapsed:.0f}% ("
                + ", ".join(f"{k} {100 * v / elapsed:.0f}%" for k, v in cpu.items())
                + f"), {1000 * sum(cpu.values()) / max(len(sent), 1):.1f} ms per accepted send",
            ),
            (
                "flush tasks enqueued while sending (Redis LPUSH)",
                f"{commands.get('lpush', 0)} ({commands.get('lpush', 0) / max(len(sent), 1):.2f} per send); "
                f"Redis commands: {sum(commands.values())}",
            ),
        ]
    )
    print(
        f"target >= {TARGET_RATE:.0f} messages/s sustained, no rate-limit error, all sent: {verdict} "
        f"({sustained:.1f}/s, {rate_errors} x 130429, {pair_errors} x 131056, "
        f"{counts.get('sent', 0)}/{args.messages} sent{'' if finished else ', timed out'})"
    )

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    out = results / f"outbound-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "outbound_throughput",
                "at": stamp,
                "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "node": platform.node()},
                "setup": {
                    "messages": args.messages,
                    "numbers": args.numbers,
                    "fake_rate_limit_per_second": args.rate_limit,
                    "fake_pair_interval_s": args.pair_interval,
                    "OUTBOUND_RATE_PER_SECOND": args.rate,
                    "OUTBOUND_RATE_BURST": 1,
                    "OUTBOUND_NUMBER_LIMIT_PER_SECOND": args.rate_limit,
                    "OUTBOUND_PAIR_INTERVAL_SECONDS": round(args.pair_interval * 1.05, 3),
                    "OUTBOUND_PAIR_BURST": 1,
                    "workers": f"celery threads pool, concurrency {args.concurrency}, core 0 (with MariaDB + Redis)",
                    "fake": "FakeGraph process, core 1",
                    "queue_setup_s": round(setup_s, 2),
                    "timeout_s": args.timeout,
                },
                "baseline_fake_capacity": baseline,
                "figures": figures,
                "elapsed_s": round(elapsed, 2),
                "fake_stats": fake_stats,
                "cpu_s_while_sending": cpu,
                "redis_commands_while_sending": commands,
                "product_statuses": counts,
                "attempts_histogram": attempts,
                "failed_reasons": failures,
                "order_violations": violations,
                "finished": finished,
                "target": {"sustained_rate": TARGET_RATE, "rate_limit_errors": 0, "pass": passed},
            },
            indent=2,
        )
    )
    print(f"Results: {out.relative_to(ROOT)}")
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    client = sub.add_parser("baseline-client", help="(internal) unpaced sends against a fake without limits")
    client.add_argument("--url", required=True)
    client.add_argument("--seconds", type=float, default=5.0)
    client.add_argument("--threads", type=int, default=8)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--numbers", type=int, default=2_000)
    parser.add_argument("--rate-limit", type=int, default=80, help="the fake's messages/s per business number")
    parser.add_argument(
        "--pair-interval", type=float, default=2.0, help="the fake's seconds between sends to one number"
    )
    parser.add_argument("--rate", type=float, default=78.0, help="OUTBOUND_RATE_PER_SECOND for the sender")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--fake-gc", action="store_true", help="keep the garbage collector on in the fake (pauses bunch its arrivals)"
    )
    parser.add_argument("--timeout", type=float, default=400.0, help="seconds to wait for every reply to be sent")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--baseline-threads", type=int, default=8)
    parser.add_argument("--results", default=str(ROOT / "bench/results"))
    parser.add_argument("--mariadb-pid-file", default=os.environ.get("BENCH_MARIADB_PID_FILE"))
    parser.add_argument("--redis-pid-file", default=os.environ.get("BENCH_REDIS_PID_FILE"))
    args = parser.parse_args()
    if args.command == "baseline-client":
        print(json.dumps(baseline_client(args.url, seconds=args.seconds, threads=args.threads)))
        return 0
    if args.messages % args.numbers:
        parser.error("--messages must be a multiple of --numbers")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
