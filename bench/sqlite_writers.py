"""Two processes writing one SQLite file: how long a webhook's INSERT waits while the runner works through a backlog.

    .venv/bin/python bench/sqlite_writers.py [--seconds 5] [--gap-ms 0.3] [--cores 0]

The embedded default's web server stores each webhook POST (an INSERT in autocommit mode) while the pipeline
runner stores and answers messages, one short transaction after another. This reproduces that pair on a fresh
database file, both processes on the same core as under `bin/run`'s load: "runner" runs transactions of a few
INSERTs and about a millisecond of work, with a short pause between them (`--gap-ms`, the parse of the next
delivery); "webhook" INSERTs a row every 12.5 ms (80/s) and times each INSERT. It runs once with Django's SQLite
backend (the baseline, measured in the same run) and once with the product's (whatsapp_ia/db/sqlite3: the writers
take turns through a lock file), and exits 1 when the product's backend misses its targets: the webhook's INSERT
at most 20 ms at p99 and 50 ms at most.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE = "django.db.backends.sqlite3"
PRODUCT = "whatsapp_ia.db.sqlite3"
TARGET_P99_MS = 20.0
TARGET_MAX_MS = 50.0
RATE = 80.0


def _connection(engine: str, database: Path) -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_TZ=True, INSTALLED_APPS=[])
        django.setup()
    from django.db.utils import ConnectionHandler

    from whatsapp_ia.settings.parsing import database_from_env

    config = database_from_env({}, sqlite_path=database)
    config["ENGINE"] = engine
    conn = ConnectionHandler({"default": config})["default"]
    conn.ensure_connection()
    return conn


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _pin(cores: list[int]) -> None:
    if cores:
        os.sched_setaffinity(0, cores)


def _runner(engine: str, database: Path, seconds: float, gap: float, cores: list[int], out: Any) -> None:
    _pin(cores)
    conn = _connection(engine, database)
    end = time.monotonic() + seconds
    done = 0
    while time.monotonic() < end:
        conn.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        with conn.cursor() as cursor:
            for _ in range(3):
                cursor.execute("INSERT INTO message (body) VALUES (%s)", ["reply"])
        _spin(0.001)  # the rule engine's turn
        conn.commit()
        conn.set_autocommit(True)
        done += 1
        _spin(gap)  # the next delivery's parse, outside the transaction
    conn.close()
    out.send(done)


def _webhook(engine: str, database: Path, seconds: float, cores: list[int], out: Any) -> None:
    _pin(cores)
    conn = _connection(engine, database)
    waits = []
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        due = start + n / RATE
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        began = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.execute("INSERT INTO delivery (body) VALUES (%s)", ["{}"])
        waits.append((time.perf_counter() - began) * 1000)
        n += 1
    conn.close()
    out.send(waits)


def _measure(engine: str, *, seconds: float, gap: float, cores: list[int]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="wia-sqlite-writers-") as folder:
        database = Path(folder) / "db.sqlite3"
        conn = _connection(engine, database)
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, body TEXT)")
            cursor.execute("CREATE TABLE delivery (id INTEGER PRIMARY KEY, body TEXT)")
        conn.close()
        context = multiprocessing.get_context("fork")
        runner_in, runner_out = context.Pipe(duplex=False)
        hook_in, hook_out = context.Pipe(duplex=False)
        runner = context.Process(target=_runner, args=(engine, database, seconds + 0.5, gap, cores, runner_out))
        hook = context.Process(target=_webhook, args=(engine, database, seconds, cores, hook_out))
        runner.start()
        time.sleep(0.2)
        hook.start()
        waits = sorted(hook_in.recv())
        transactions = runner_in.recv()
        runner.join()
        hook.join()
    q = statistics.quantiles(waits, n=100)
    return {"inserts": len(waits), "p50": q[49], "p95": q[94], "p99": q[98], "max": waits[-1], "runner": transactions}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--gap-ms", type=float, default=0.3, help="the runner's pause between transactions")
    parser.add_argument("--cores", default="0", help="cores for both processes (comma-separated; '' for any)")
    args = parser.parse_args()
    cores = [int(c) for c in args.cores.split(",") if c.strip()]
    print(
        f"SQLite writers: a webhook INSERT every {1000 / RATE:.1f} ms while a runner writes back to back "
        f"(gap {args.gap_ms:g} ms), {args.seconds:g} s, cores {args.cores or 'any'}"
    )
    print(f"{'backend':<42} {'inserts':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'runner txns':>12}")
    figures = {}
    for label, engine in (("Django's SQLite backend (baseline)", BASELINE), ("whatsapp_ia.db.sqlite3", PRODUCT)):
        found = figures[engine] = _measure(engine, seconds=args.seconds, gap=args.gap_ms / 1000, cores=cores)
        print(
            f"{label:<42} {found['inserts']:>8} {found['p50']:>8.1f} {found['p95']:>8.1f} {found['p99']:>8.1f} "
            f"{found['max']:>8.1f} {found['runner']:>12}"
        )
    product = figures[PRODUCT]
    ok = product["p99"] <= TARGET_P99_MS and product["max"] <= TARGET_MAX_MS
    print(f"  {'PASS' if product['p99'] <= TARGET_P99_MS else 'FAIL'}  webhook INSERT p99 <= {TARGET_P99_MS:g} ms")
    print(f"  {'PASS' if product['max'] <= TARGET_MAX_MS else 'FAIL'}  webhook INSERT max <= {TARGET_MAX_MS:g} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
