#!/usr/bin/env bash
# Webhook ingest benchmark: signed Meta deliveries over 64 connections for 30 s, each stored before
# its 200, beside a bare ASGI app and a bare Django view served by the same Daphne process.
#
#   bash bench/webhook_ingest.sh                       # about 2.5 minutes
#   DURATION=30 BASELINE_DURATION=15 bash bench/webhook_ingest.sh
#
# Server side (Daphne, MariaDB, Redis) is pinned to core 0, wrk to core 1; loopback only.
# No Celery worker runs: deliveries are enqueued to Redis but not processed (the web tier alone).
# Prints a table and PASS/FAIL against 800 deliveries/s with p99 < 100 ms; writes
# bench/results/webhook_ingest-<timestamp>.json. Exit status 0 = PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_prepare wrk

PORT=$(bench_free_port)
say "Starting Daphne on 127.0.0.1:$PORT (core 0)"
taskset -c 0 "$PY" -m whatsapp_ia.server -b 127.0.0.1 -p "$PORT" -v 0 --access-log /dev/null bench.asgi:application \
  >"$LOG/daphne.log" 2>&1 </dev/null &
DAPHNE_PID=$!
BENCH_PIDS+=("$DAPHNE_PID")
for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/bench/bare-asgi" 2>/dev/null && break
  kill -0 "$DAPHNE_PID" 2>/dev/null || { tail -30 "$LOG/daphne.log"; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/bench/bare-django" || { tail -30 "$LOG/daphne.log"; exit 1; }

say "Benchmark"
set +e
"$PY" -m bench.webhook_ingest --port "$PORT" --daphne-pid "$DAPHNE_PID" \
  --duration "${DURATION:-30}" --baseline-duration "${BASELINE_DURATION:-30}" --warmup "${WARMUP:-3}" \
  --connections "${CONNECTIONS:-64}" \
  --mariadb-pid-file "$RUN_DIR/mysqld.pid" --redis-pid-file "$RUN_DIR/redis.pid"
status=$?
set -e
if grep -qiE "traceback|error" "$LOG/daphne.log"; then
  echo "Daphne logged errors (last lines of $LOG/daphne.log):"
  grep -iE "traceback|error" "$LOG/daphne.log" | tail -5
fi
exit $status
