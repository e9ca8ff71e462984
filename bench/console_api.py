"""The console's chat list API on a big database: GET /api/conversations/ with each filter and search.

    bash bench/console_api.sh                        # 100,000 chats, 2,000,000 messages, MariaDB
    CONVERSATIONS=20000 MESSAGES_PER_CHAT=20 bash bench/console_api.sh

Two steps, both run by bench/console_api.sh:

- ``generate``: bulk SQL inside MariaDB (its SEQUENCE engine's seq_1_to_N tables, INSERT ... SELECT):
  contacts, chats spread over 90 days of activity and the four statuses, roles on 70% of them, unread
  and needs-attention flags, and MESSAGES_PER_CHAT messages each with Spanish shop talk; a few users
  (a superuser, a sales agent who also takes unrouted chats, an agent of two roles, a "see every
  chat" supervisor) with API tokens.
- ``measure``: one keep-alive HTTP connection per scenario (closed loop), token auth, against the
  product's web server pinned to core 0 (this client runs on core 1). Each scenario is a user and a
  query string; ``page 2`` follows the first page's cursor. Latency = request sent to the whole
  response read. Prints p50/p95/p99 per scenario and PASS when every p95 is under the target.
"""

# ruff: noqa: S608, S106 - bulk SQL of the benchmark's own constants; throwaway users on a throwaway database
from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 150.0

FIRST = "Laura Ana Pedro Camila Andrés Sofía Juan Valentina Diego Mariana Carlos Lucía Jorge Daniela Luis Paula Felipe Sara Miguel Elena"  # noqa: E501
LAST = "Gómez Rodríguez Martínez López Pérez Sánchez Ramírez Torres Díaz Vargas Castro Ruiz Moreno Rojas Herrera"
WORDS = [
    "hola",
    "buenas",
    "tardes",
    "quiero",
    "cotizar",
    "mesón",
    "cocina",
    "granito",
    "cuarzo",
    "mármol",
    "precio",
    "medidas",
    "metros",
    "blanco",
    "negro",
    "gris",
    "instalación",
    "envío",
    "bogotá",
    "medellín",
    "cali",
    "descuento",
    "garantía",
    "factura",
    "pago",
    "transferencia",
    "cita",
    "visita",
    "showroom",
    "catálogo",
    "muestra",
    "color",
    "brillo",
    "pulido",
    "lavaplatos",
    "estufa",
    "barra",
    "baño",
    "isla",
    "entrega",
    "semana",
    "gracias",
    "perfecto",
    "listo",
]
ROLES = ("Ventas", "Soporte", "Instalaciones", "Cobranza", "Posventa")


def _elt(values: list[str] | tuple[str, ...], expr: str) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"ELT(1 + ({expr}) % {len(values)}, {quoted})"


def generate(conversations: int, per_chat: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.models import ChatRole, Role, User
    from conversations.models import Channel, Contact, Conversation, Message, MessageSearchText
    from conversations.services.search_index import search_index_catch_up

    if connection.vendor != "mysql":
        raise SystemExit("The console API benchmark generates its data with MariaDB's SEQUENCE engine.")
    contact_t, conv_t, msg_t = Contact._meta.db_table, Conversation._meta.db_table, Message._meta.db_table
    chatrole_t = ChatRole._meta.db_table
    timings: dict[str, float] = {}
    now = timezone.now().replace(microsecond=0, tzinfo=None)
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="109990001112223")
    roles = [Role.objects.create(name=name, keyword=name.lower()) for name in ROLES]
    with connection.cursor() as cursor:

        def run(label: str, sql: str, params: list[Any] | None = None) -> None:
            started = time.perf_counter()
            cursor.execute(sql.replace(" % ", " MOD "), params or [])  # '%' is the driver's placeholder
            timings[label] = round(time.perf_counter() - started, 1)
            print(f"  {label}: {timings[label]} s", flush=True)

        first, last = FIRST.split(), LAST.split()
        run(
            "contacts",
            f"INSERT INTO {contact_t} (provider, external_id, profile_name, alias, phone, referral, created_at,"
            " updated_at) SELECT 'meta', CONCAT('5730', LPAD(seq, 8, '0')),"
            f" CONCAT({_elt(first, 'seq')}, ' ', {_elt(last, 'seq DIV 20')}),"
            f" IF(seq % 10 = 0, CONCAT('Cliente ', {_elt(first, 'seq DIV 7')}, ' ', seq), ''),"
            f" CONCAT('+57 30', LPAD(seq, 8, '0')), '{{}}', %s, %s FROM seq_1_to_{conversations}",
            [now, now],
        )
        statuses = ("bot", "ai", "human", "closed")
        run(
            "conversations",
            f"INSERT INTO {conv_t} (contact_id, channel_id, step, status, bot_paused, assigned_to_id, unread_count,"
            " needs_attention, attention_reason, last_activity_at, last_inbound_at, last_message_preview,"
            " platform, provider_thread_id, created_at, updated_at)"
            f" SELECT c.id, %s, 'inicio', {_elt(statuses, 'c.id * 7')}, 0, NULL,"
            " IF(c.id % 7 = 0, 1 + c.id % 4, 0), c.id % 23 = 0, IF(c.id % 23 = 0, 'unmatched', ''),"
            " %s - INTERVAL (c.id * 7919) % 7776000 SECOND, %s - INTERVAL (c.id * 7919) % 7776000 SECOND,"
            f" CONCAT({_elt(WORDS, 'c.id')}, ' ', {_elt(WORDS, 'c.id DIV 3')}), 'whatsapp', '', %s, %s"
            f" FROM {contact_t} c",
            [channel.pk, now, now, now, now],
        )
        role_ids = [r.pk for r in roles]
        run(
            "chat roles",
            f"INSERT INTO {chatrole_t} (conversation_id, role_id, assigned_at, assigned_by)"
            f" SELECT id, ELT(1 + id % 5, {', '.join(map(str, role_ids))}), %s, 'bench' FROM {conv_t}"
            " WHERE id % 10 < 7",
            [now],
        )
        words = [_elt(WORDS, f"(c.id * 31 + s.seq * {k}) DIV {k}") for k in (1, 3, 7, 11, 13, 17)]
        text = "CONCAT(" + ", ' ', ".join(words) + ")"
        run(
            "messages",
            f"INSERT INTO {msg_t} (conversation_id, direction, kind, text, caption, data, media_file, media_mime,"
            " media_provider_id, media_original_url, media_state, media_error, media_checksum_mismatch,"
            " transcription, image_description, provider, provider_message_id, reply_to_provider_id, status,"
            " error_code, error_message, processing_state, attempts, awaiting_ai, enrichment_state,"
            " enrichment_reason, raw, created_at, updated_at)"
            f" SELECT c.id, IF(s.seq % 2 = 1, 'in', 'out'), 'text', {text}, '', '{{}}', '', '', '', '', '', '', 0,"
            " '', '', 'meta', CONCAT('wamid.', c.id, '.', s.seq), '', IF(s.seq % 2 = 1, 'received', 'read'),"
            " '', '', 'done', 0, 0, '', '', '{}',"
            " c.last_activity_at - INTERVAL (%s - s.seq) * 97 SECOND,"
            " c.last_activity_at - INTERVAL (%s - s.seq) * 97 SECOND"
            f" FROM {conv_t} c JOIN seq_1_to_{per_chat} s",
            [per_chat, per_chat],
        )
        search_t = MessageSearchText._meta.db_table
        started = time.perf_counter()  # what the periodic copy does, in bigger batches
        search_index_catch_up(batch=200_000, max_batches=1_000)
        timings["search index"] = round(time.perf_counter() - started, 1)
        print(f"  search index: {timings['search index']} s", flush=True)
        run("analyze", f"ANALYZE TABLE {contact_t}, {conv_t}, {msg_t}, {chatrole_t}, {search_t}")
        cursor.fetchall()

    take_unrouted = Permission.objects.get(codename="take_unrouted_conversations")
    view_all = Permission.objects.get(codename="view_all_conversations")
    users = {
        "superuser": User.objects.create_superuser("root", password="bench-pass-123"),
        "sales_agent": User.objects.create_user("ana", password="bench-pass-123"),
        "two_roles_agent": User.objects.create_user("beto", password="bench-pass-123"),
        "supervisor": User.objects.create_user("elena", password="bench-pass-123"),
    }
    users["sales_agent"].roles.add(roles[0])
    users["sales_agent"].user_permissions.add(take_unrouted)
    users["two_roles_agent"].roles.add(roles[1], roles[2])
    users["supervisor"].user_permissions.add(view_all)
    return {
        "tokens": {name: Token.objects.create(user=user).key for name, user in users.items()},
        "role_id": role_ids[0],
        "counts": {
            "conversations": Conversation.objects.count(),
            "messages": Message.objects.count(),
            "chat_roles": ChatRole.objects.count(),
        },
        "generate_seconds": timings,
    }


# (label, user, query string); "NEXT" follows the first page's cursor ("NEXT:<query>": of that query's).
def scenarios(role_id: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for user in ("sales_agent", "superuser"):
        rows += [
            ("all chats", user, ""),
            ("page 2", user, "NEXT"),
            ("status=human", user, "status=human"),
            ("status=closed", user, "status=closed"),
            (f"role={role_id}", user, f"role={role_id}"),
            ("role=none", user, "role=none"),
            ("unread=1", user, "unread=1"),
            ("attention=1", user, "attention=1"),
            ("status=human&unread=1", user, "status=human&unread=1"),
            ("q=name", user, "q=Camila"),
            ("q=number", user, "q=0004242"),
            ("q=message word", user, "q=showroom"),
            ("q=word, no match", user, "q=xylophone"),
            ("q=name&attention=1", user, "q=Pedro&attention=1"),
            ("q=name, page 2", user, "NEXT:q=Laura"),
            ("q=message word, page 2", user, "NEXT:q=showroom"),
            ("q=message word&attention=1", user, "q=showroom&attention=1"),
        ]
    rows += [("all chats", "two_roles_agent", ""), ("unread=1", "two_roles_agent", "unread=1")]
    rows += [("all chats", "supervisor", ""), ("q=message word", "supervisor", "q=garantía")]
    return rows


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _get(conn: http.client.HTTPConnection, path: str, token: str) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Token {token}", "Host": "127.0.0.1"})
    response = conn.getresponse()
    body = response.read()
    return response.status, body, (time.perf_counter() - started) * 1000


def measure(port: int, data: dict[str, Any], requests: int, warmup: int) -> list[dict[str, Any]]:
    rows = []
    for label, user, query in scenarios(data["role_id"]):
        token = data["tokens"][user]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        following = query.startswith("NEXT")
        first = query.partition(":")[2] if following else query
        path = "/api/conversations/" + (f"?{urlencode(parse_qsl(first))}" if first else "")
        if following:
            status, body, _ = _get(conn, path, token)
            nxt = json.loads(body)["next"]
            if not nxt:
                raise SystemExit(f"{label} ({user}): the first page has no next page")
            split = urlsplit(nxt)
            path = f"{split.path}?{split.query}"
        latencies, results, errors = [], 0, 0
        for n in range(warmup + requests):
            status, body, ms = _get(conn, path, token)
            if status != 200:
                errors += 1
                if errors == 1:
                    print(f"  {label} ({user}): HTTP {status}: {body[:200]!r}", file=sys.stderr)
                continue
            if n >= warmup:
                latencies.append(ms)
                results = len(json.loads(body)["results"])
        conn.close()
        row = {
            "scenario": label,
            "user": user,
            "query": query,
            "results": results,
            "errors": errors,
            "p50_ms": round(_pct(latencies, 50), 1) if latencies else None,
            "p95_ms": round(_pct(latencies, 95), 1) if latencies else None,
            "p99_ms": round(_pct(latencies, 99), 1) if latencies else None,
        }
        rows.append(row)
        print(
            f"  {label:<24} {user:<16} rows={results:<3} p50={row['p50_ms']!s:>7} p95={row['p95_ms']!s:>7}"
            f" p99={row['p99_ms']!s:>7} ms  errors={errors}",
            flush=True,
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--conversations", type=int, default=100_000)
    gen.add_argument("--messages-per-chat", type=int, default=20)
    gen.add_argument("--out", required=True)
    meas = sub.add_parser("measure")
    meas.add_argument("--port", type=int, required=True)
    meas.add_argument("--data", required=True)
    meas.add_argument("--requests", type=int, default=200)
    meas.add_argument("--warmup", type=int, default=20)
    meas.add_argument("--results", required=True)
    args = parser.parse_args()

    if args.command == "generate":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
        data = generate(args.conversations, args.messages_per_chat)
        Path(args.out).write_text(json.dumps(data))
        print(f"  generated: {data['counts']}")
        return 0

    data = json.loads(Path(args.data).read_text())
    rows = measure(args.port, data, args.requests, args.warmup)
    worst = max((r["p95_ms"] or 1e9) for r in rows)
    passed = all(r["errors"] == 0 for r in rows) and worst < TARGET_P95_MS
    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "counts": data["counts"],
        "generate_seconds": data["generate_seconds"],
        "requests_per_scenario": args.requests,
        "target_p95_ms": TARGET_P95_MS,
        "worst_p95_ms": worst,
        "pass": passed,
        "rows": rows,
    }
    Path(args.results).write_text(json.dumps(out, indent=1))
    print(f"\nWorst p95: {worst} ms (target < {TARGET_P95_MS:.0f} ms): {'PASS' if passed else 'FAIL'}")
    print(f"Results: {args.results}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
