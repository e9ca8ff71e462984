"""CSV export benchmark: 1,000,000 messages through the analysts' date-range export, time and peak memory.

Run by bench/export_csv.sh (which picks the database); by hand:

    DATABASE_URL=sqlite:////tmp/x.sqlite3 .venv/bin/python bench/export_csv.py --rows 1000000

Steps: migrate; insert ``--small`` messages (executemany, 20,000 rows a statement batch) over 1,000 chats
and 30 days; export them all in a fresh process (analytics.services.export_jobs.message_export_run, the
Celery task's body: keyset chunks, CSV written to MEDIA_ROOT/exports/); insert up to ``--rows``; export
again. Each export runs in its own process, which reports its seconds and its peak RSS (ru_maxrss) and
its RSS before exporting (Django loaded), so the two exports are compared alone.

PASS: the large export within ``--max-seconds`` (60), and its peak RSS within ``--max-growth-mb`` (20 MB)
of the small export's (memory flat: it does not grow with the rows), and every row in the file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_ia.settings.base")

CHATS = 1000
DAYS = 30
START = datetime(2026, 1, 1, 6, tzinfo=UTC)
TEXTS = [
    "Hola, ¿tienen cuarzo blanco? Necesito 3 m² para la cocina",
    '=HYPERLINK("http://example.com") cotización',
    'Dijo "sí", luego; no sé',
    "Precio de la cubierta de granito gris, por favor\ncon instalación",
    "¡Gracias! 👍",
]


def _setup() -> None:
    import django

    django.setup()


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _fixtures() -> list[int]:
    """The channel, contacts and chats the messages belong to (created once)."""
    from conversations.models import Channel, Contact, Conversation

    channel, _ = Channel.objects.get_or_create(
        provider="meta", external_id="bench-export", defaults={"name": "Bench export"}
    )
    existing = list(Conversation.objects.filter(channel=channel).order_by("pk").values_list("pk", flat=True))
    if existing:
        return existing
    contacts = Contact.objects.bulk_create(
        Contact(provider="meta", external_id=f"57300{n:07d}", profile_name=f"Cliente {n} Ñandú") for n in range(CHATS)
    )
    chats = Conversation.objects.bulk_create(
        Conversation(contact=contact, channel=channel, step="inicio") for contact in contacts
    )
    return [chat.pk for chat in chats]


def _insert(start: int, stop: int, chats: list[int], *, total: int) -> float:
    """Messages start..stop-1 by executemany (every column Django would write), in batches; returns seconds."""
    from django.db import connection, transaction

    from conversations.models import Message

    fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
    template = Message(conversation_id=chats[0], direction="in", kind="text", provider="bench", status="received")
    now = datetime.now(UTC)
    base = {}
    for field in fields:
        value = getattr(template, field.attname)
        if field.name in ("created_at", "updated_at"):
            value = now
        base[field.attname] = value
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608 - model names
    span = DAYS * 86400
    rng = random.Random(start)
    prepped = [f.get_db_prep_save(base[f.attname], connection) for f in fields]
    at = {f.attname: i for i, f in enumerate(fields)}
    data_field = Message._meta.get_field("data")
    created_field = Message._meta.get_field("created_at")
    ai_data = data_field.get_db_prep_save({"origin": "ai", "ai_log": 1, "ai_backend": "extractive"}, connection)
    no_data = data_field.get_db_prep_save({}, connection)
    began = time.monotonic()
    batch = 20_000
    for first in range(start, stop, batch):
        rows = []
        for n in range(first, min(first + batch, stop)):
            row = list(prepped)
            row[at["conversation_id"]] = chats[n % len(chats)]
            row[at["direction"]] = "in" if n % 2 else "out"
            row[at["status"]] = "received" if n % 2 else "read"
            row[at["text"]] = TEXTS[n % len(TEXTS)]
            row[at["data"]] = ai_data if n % 10 == 0 else no_data
            # In time order, as messages are stored (created_at is set on insert), a little jitter within a minute.
            row[at["created_at"]] = created_field.get_db_prep_save(
                START + timedelta(seconds=n * span // total + rng.randrange(60)), connection
            )
            rows.append(row)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
    return time.monotonic() - began


def _export_child() -> None:
    """In a fresh process: export every message of the 30 days; print figures as JSON."""
    _setup()
    from django.conf import settings

    from analytics.models import MessageExport
    from analytics.services.export_jobs import message_export_run

    rss_before = _rss_mb()
    export = MessageExport.objects.create(
        date_from=START.date() - timedelta(days=1), date_to=START.date() + timedelta(days=DAYS + 1)
    )
    began = time.monotonic()
    done = message_export_run(export_id=export.pk)
    seconds = time.monotonic() - began
    path = Path(settings.MEDIA_ROOT) / done.file_path
    print(
        json.dumps(
            {
                "status": done.status,
                "error": done.error,
                "rows": done.rows_done,
                "rows_total": done.rows_total,
                "seconds": round(seconds, 2),
                "rows_per_second": round(done.rows_done / seconds) if seconds else None,
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "rss_before_mb": round(rss_before, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )
    path.unlink()


def _export() -> dict:
    out = subprocess.run([sys.executable, __file__, "--child"], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _export_child()
        return 0

    _setup()
    from django.core.management import call_command
    from django.db import connection

    from conversations.models import Message

    call_command("migrate", verbosity=0)
    chats = _fixtures()
    have = Message.objects.count()
    print(f"database: {connection.vendor}  messages already there: {have:,}", flush=True)
    figures: dict = {"database": connection.vendor}
    for label, target in (("small", args.small), ("large", args.rows)):
        if have < target:
            seconds = _insert(have, target, chats, total=args.rows)
            print(f"inserted {target - have:,} messages in {seconds:.1f} s", flush=True)
            have = target
        figures[label] = _export()
        f = figures[label]
        print(
            f"export {label:5}: {f['rows']:>9,} rows in {f['seconds']:6.1f} s ({f['rows_per_second']:,} rows/s), "
            f"{f['file_mb']} MB, RSS {f['rss_before_mb']} MB before, peak {f['peak_rss_mb']} MB",
            flush=True,
        )
    small, large = figures["small"], figures["large"]
    growth = large["peak_rss_mb"] - small["peak_rss_mb"]
    checks = {
        f"large export within {args.max_seconds:g} s": large["seconds"] <= args.max_seconds,
        f"peak RSS grows at most {args.max_growth_mb:g} MB from {small['rows']:,} to {large['rows']:,} rows "
        f"(grew {growth:+.1f} MB)": growth <= args.max_growth_mb,
        "every row exported (status done, rows = messages)": large["status"] == "done"
        and large["rows"] == large["rows_total"] == args.rows,
    }
    figures["rss_growth_mb"] = round(growth, 1)
    figures["pass"] = all(checks.values())
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    print("PASS" if figures["pass"] else "FAIL")
    return 0 if figures["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
