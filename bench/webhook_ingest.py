"""Webhook ingest benchmark driver (run by bench/webhook_ingest.sh, which starts the servers).

Runs wrk (pinned to core 1) against a Daphne already serving bench.asgi on core 0:
  1. GET /bench/bare-asgi      a raw ASGI callable, no Django (the server's own ceiling)
  2. GET /bench/bare-django    a plain Django view through the product's middleware stack
  3. POST /webhooks/meta/      signed Meta deliveries, each stored before its 200
Each target gets a short warm-up, then the measured run. Around the webhook run it counts
conversations_webhookdelivery rows and the Celery queue, so "stored rows == 2xx" is checked.
Prints a table and writes bench/results/webhook_ingest-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "conversations/tests/fixtures/meta/message__text.json"
TEXTS = (
    "Hola, ¿tienen turnos para mañana a la tarde?",
    "Buenas, quiero cotizar un mesón de 2 metros",
    "menu",
    "¿Cuál es el horario de atención?",
    "Necesito hablar con un asesor",
    "Gracias!",
)
TARGET_RPS = 800.0
TARGET_P99_MS = 100.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- signed deliveries


def sign(body: bytes, secret: str) -> str:
    """X-Hub-Signature-256 as Meta sends it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_body(template: dict[str, Any], *, index: int, run: str, rng: random.Random, now: int) -> bytes:
    """One Meta text-message delivery: unique wamid, random wa_id, single-line JSON (ASCII, like Meta's)."""
    payload = copy.deepcopy(template)
    value = payload["entry"][0]["changes"][0]["value"]
    wa_id = f"57{rng.randrange(300_000_0000, 350_999_9999)}"
    value["contacts"][0]["wa_id"] = wa_id
    value["contacts"][0]["profile"]["name"] = f"Cliente {rng.randrange(1, 10**6)}"
    message = value["messages"][0]
    message["from"] = wa_id
    message["id"] = "wamid." + base64.b64encode(f"HBgM{wa_id}FQIAEhgUBENCH{run}{index:08d}".encode()).decode()
    message["timestamp"] = str(now - rng.randrange(0, 60))
    message["text"]["body"] = f"{rng.choice(TEXTS)} #{index}"
    return json.dumps(payload, separators=(",", ":")).encode()


def write_bodies(path: Path, *, count: int, secret: str, run: str, first: int = 0, seed: int = 1) -> None:
    template = json.loads(FIXTURE.read_text())
    rng = random.Random(seed)
    now = int(time.time())
    with path.open("wb") as out:
        for index in range(first, first + count):
            body = delivery_body(template, index=index, run=run, rng=rng, now=now)
            assert b"\t" not in body and b"\n" not in body
            out.write(sign(body, secret).encode() + b"\t" + body + b"\n")


# --------------------------------------------------------------------------- measurements


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads) in seconds; None when it is gone."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def read_pid(path: str | None) -> int | None:
    if not path:
        return None
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def store_counts() -> dict[str, int]:
    """Rows in conversations_webhookdelivery (all / signature ok) and tasks waiting in the Celery queue."""
    import redis
    from django.conf import settings
    from django.db import connection

    from conversations.models import WebhookDelivery

    counts = {
        "rows": WebhookDelivery.objects.count(),
        "rows_signature_ok": WebhookDelivery.objects.filter(signature_ok=True).count(),
        "celery_queue": int(redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery")),
    }
    connection.close()
    return counts


def mariadb_status() -> dict[str, int]:
    """MariaDB's own counters: connections ever opened, open now, most open at once (empty on other databases)."""
    from django.db import connection

    if connection.vendor != "mysql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Threads_connected', 'Max_used_connections')"
        )
        status = {name: int(value) for name, value in cursor.fetchall()}
    connection.close()
    return status


def run_wrk(
    url: str, *, seconds: int, connections: int, bodies: Path | None, server_pids: dict[str, int | None]
) -> dict[str, Any]:
    """One wrk run on core 1; returns its WRK_JSON plus the CPU each server process used meanwhile."""
    env = dict(os.environ)
    env.pop("WRK_BODIES", None)
    if bodies is not None:
        env["WRK_BODIES"] = str(bodies)
    cmd = [
        "taskset",
        "-c",
        "1",
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(ROOT / "bench/wrk_meta.lua"),
        url,
    ]
    before = {name: cpu_seconds(pid) for name, pid in server_pids.items()}
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read() if proc.stdout else ""  # until wrk exits (bounded by -d)
    _, status, usage = os.wait4(proc.pid, 0)  # reaps it, with the CPU it used
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    after = {name: cpu_seconds(pid) for name, pid in server_pids.items()}
    line = next((ln for ln in output.splitlines() if ln.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed (exit {proc.returncode}):\n{output}")
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["wrk_output"] = output
    result["cpu_s"] = {
        name: round(after[name] - before[name], 3)
        for name in server_pids
        if before[name] is not None and after[name] is not None
    }
    result["cpu_s"]["wrk"] = round(usage.ru_utime + usage.ru_stime, 3)
    result["wall_s"] = round(wall, 3)
    return result


def check_webhook_once(base: str, body: bytes, secret: str) -> None:
    """One signed delivery must answer 200, or the benchmark would measure an error path."""
    request = urllib.request.Request(
        base + "/webhooks/meta/",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read()[:500]
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()[:500]
    if status != 200:
        raise SystemExit(f"A signed delivery answered {status}, not 200: {text!r}")


# --------------------------------------------------------------------------- report


def summarize(name: str, path: str, run: dict[str, Any], rows: int | None) -> dict[str, Any]:
    duration = run["duration_s"] or 1.0
    non_2xx = run["status_3xx"] + run["status_4xx"] + run["status_5xx"]
    return {
        "target": name,
        "path": path,
        "req_s": round(run["requests"] / duration, 1),
        "ok_s": round(run["status_2xx"] / duration, 1),
        "p50_ms": run["latency_ms"]["p50"],
        "p90_ms": run["latency_ms"]["p90"],
        "p99_ms": run["latency_ms"]["p99"],
        "max_ms": run["latency_ms"]["max"],
        "status_2xx": run["status_2xx"],
        "non_2xx": non_2xx,
        "socket_errors": sum(run["errors"][k] for k in ("connect", "read", "write", "timeout")),
        "unanswered_at_stop": run["sent"] - run["requests"],
        "rows_stored": rows,
        "cpu_s": run["cpu_s"],
        "duration_s": run["duration_s"],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ("target", "req/s", "p50 ms", "p99 ms", "2xx", "non-2xx", "rows stored")
    lines = [header]
    for r in rows:
        lines.append(
            (
                f"{r['target']} ({r['path']})",
                f"{r['req_s']:.1f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                str(r["status_2xx"]),
                str(r["non_2xx"] + r["socket_errors"]),
                "-" if r["rows_stored"] is None else str(r["rows_stored"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print(" | ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)))
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def cpu_line(r: dict[str, Any]) -> str:
    cpu = r["cpu_s"]
    duration = r["duration_s"] or 1.0
    parts = [f"{name} {100 * seconds / duration:.0f}%" for name, seconds in cpu.items() if name != "wrk"]
    core0 = sum(seconds for name, seconds in cpu.items() if name != "wrk")
    per_req_ms = 1000 * core0 / max(r["status_2xx"], 1)
    return (
        f"  {r['target']}: core 0 busy {100 * core0 / duration:.0f}% ({', '.join(parts)}), "
        f"{per_req_ms:.2f} ms of server CPU per 2xx; wrk on core 1 {100 * cpu.get('wrk', 0) / duration:.0f}%"
    )


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=int, default=30, help="seconds of the webhook run")
    parser.add_argument("--baseline-duration", type=int, default=30, help="seconds of each baseline run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each run (not reported)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--bodies", type=int, default=40_000, help="distinct signed deliveries for the webhook run")
    parser.add_argument("--daphne-pid", type=int)
    parser.add_argument("--mariadb-pid-file")
    parser.add_argument("--redis-pid-file")
    parser.add_argument("--results", default=str(ROOT / "bench/results"))
    args = parser.parse_args()

    os.sched_setaffinity(0, {1})  # this driver belongs with the load generator, off the server's core
    import django

    django.setup()
    from django.conf import settings

    secret = settings.META_APP_SECRET
    base = f"http://127.0.0.1:{args.port}"
    server_pids = {
        "daphne": args.daphne_pid,
        "mariadb": read_pid(args.mariadb_pid_file),
        "redis": read_pid(args.redis_pid_file),
    }
    run_id = secrets.token_hex(4).upper()
    work = Path(tempfile.mkdtemp(prefix="wia-bench-"))
    try:
        main_bodies, warm_bodies = work / "bodies.tsv", work / "warm.tsv"
        started = time.monotonic()
        write_bodies(main_bodies, count=args.bodies, secret=secret, run=run_id, seed=1)
        write_bodies(warm_bodies, count=5_000, secret=secret, run=run_id, first=args.bodies, seed=2)
        print(f"· {args.bodies} distinct signed deliveries generated in {time.monotonic() - started:.1f} s")
        check_webhook_once(base, warm_bodies.read_bytes().split(b"\n", 1)[0].split(b"\t", 1)[1], secret)

        targets = [
            ("bare ASGI", "/bench/bare-asgi", None, None, args.baseline_duration),
            ("bare Django view", "/bench/bare-django", None, None, args.baseline_duration),
            ("Meta webhook", "/webhooks/meta/", main_bodies, warm_bodies, args.duration),
        ]
        summaries, raw_runs, counts = [], {}, {}
        for name, path, bodies, warm, seconds in targets:
            url = base + path
            if args.warmup:
                run_wrk(url, seconds=args.warmup, connections=args.connections, bodies=warm, server_pids={})
                time.sleep(1.0)
            rows = None
            if bodies is not None:
                counts["before"] = store_counts()
            print(f"· {name}: {args.connections} connections for {seconds} s ...", flush=True)
            db_before = mariadb_status()
            run = run_wrk(url, seconds=seconds, connections=args.connections, bodies=bodies, server_pids=server_pids)
            time.sleep(2.0)  # let requests still in flight when wrk stopped finish on the server
            db_after = mariadb_status()
            if bodies is not None:
                counts["after"] = store_counts()
                rows = counts["after"]["rows"] - counts["before"]["rows"]
            raw_runs[name] = run
            summary = summarize(name, path, run, rows)
            if db_before and db_after:
                summary["mariadb"] = {
                    # minus the one this driver opened to read the counters
                    "connections_opened": db_after["Connections"] - db_before["Connections"] - 1,
                    "open_2s_after_run": db_after["Threads_connected"] - 1,
                    "max_open_so_far": db_after["Max_used_connections"],
                }
            summaries.append(summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    webhook = summaries[-1]
    stored = webhook["rows_stored"] or 0
    stored_ok = counts["after"]["rows_signature_ok"] - counts["before"]["rows_signature_ok"]
    enqueued = counts["after"]["celery_queue"] - counts["before"]["celery_queue"]
    unanswered = webhook["unanswered_at_stop"]
    # Every 2xx must have its row; the only rows without a 2xx are requests wrk stopped waiting for.
    durable = webhook["status_2xx"] <= stored <= webhook["status_2xx"] + unanswered and stored_ok == stored
    meets = webhook["ok_s"] >= TARGET_RPS and webhook["p99_ms"] < TARGET_P99_MS and webhook["non_2xx"] == 0
    passed = meets and durable

    print()
    print(
        f"Webhook ingest: {args.connections} connections, wrk -t1 pinned to core 1; Daphne + MariaDB + Redis "
        f"pinned to core 0 (baselines {args.baseline_duration} s, webhook {args.duration} s, "
        f"{args.warmup} s warm-up each)"
    )
    print_table(summaries)
    print()
    print(
        f"Durability: {stored} rows stored (all signature_ok: {stored_ok == stored}) for "
        f"{webhook['status_2xx']} 2xx; {unanswered} request(s) were still in flight when wrk stopped "
        f"(stored or not, never answered) -> "
        f"{'OK: every 2xx has its row' if durable else 'MISMATCH'}"
    )
    print(
        f"Celery queue grew by {enqueued} drain task(s) for {webhook['status_2xx']} deliveries (one per lane "
        "until a worker clears its kick flag; no worker runs here, so deliveries are stored, not parsed)"
    )
    print("CPU during each run:")
    for r in summaries:
        print(cpu_line(r))
    if "mariadb" in webhook:
        db = webhook["mariadb"]
        print(
            f"MariaDB during the webhook run: {db['connections_opened']} new connections for "
            f"{webhook['status_2xx'] + webhook['non_2xx']} responses "
            f"({db['connections_opened'] / max(webhook['status_2xx'] + webhook['non_2xx'], 1):.2f} per request); "
            f"{db['open_2s_after_run']} still open 2 s after the load stopped; most open at once so far: "
            f"{db['max_open_so_far']}"
        )
    ratio = webhook["ok_s"] / summaries[1]["req_s"] if summaries[1]["req_s"] else 0
    print(
        f"Webhook throughput is {100 * ratio:.0f}% of the bare Django view's and "
        f"{100 * webhook['ok_s'] / max(summaries[0]['req_s'], 1):.0f}% of bare ASGI's, same server, same run."
    )
    verdict = "PASS" if passed else "FAIL"
    print(
        f"target {TARGET_RPS:.0f} req/s, p99 < {TARGET_P99_MS:.0f} ms: {verdict} "
        f"({webhook['ok_s']:.1f} deliveries/s, p99 {webhook['p99_ms']:.1f} ms"
        f"{'' if durable else ', durability check failed'})"
    )

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    out = results / f"webhook_ingest-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "webhook_ingest",
                "at": stamp,
                "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "node": platform.node()},
                "setup": {
                    "connections": args.connections,
                    "duration_s": args.duration,
                    "baseline_duration_s": args.baseline_duration,
                    "warmup_s": args.warmup,
                    "distinct_bodies": args.bodies,
                    "server": "daphne bench.asgi:application (DJANGO_SETTINGS_MODULE=bench.settings), core 0",
                    "services": "MariaDB + Redis, core 0; wrk -t1, core 1",
                    "celery_worker": "none (deliveries enqueued, not consumed)",
                },
                "targets": summaries,
                "durability": {
                    "rows_stored": stored,
                    "rows_signature_ok": stored_ok,
                    "status_2xx": webhook["status_2xx"],
                    "unanswered_at_stop": unanswered,
                    "ok": durable,
                    "celery_tasks_enqueued": enqueued,
                    "counts": counts,
                },
                "target": {"req_s": TARGET_RPS, "p99_ms": TARGET_P99_MS, "pass": passed},
                "wrk": {name: {k: v for k, v in run.items() if k != "wrk_output"} for name, run in raw_runs.items()},
            },
            indent=2,
        )
    )
    print(f"Results: {out.relative_to(ROOT)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
