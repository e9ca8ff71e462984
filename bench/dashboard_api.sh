#!/usr/bin/env bash
# The dashboard's metrics API with 100,000 chats and 2,000,000 messages in MariaDB: p50/p95/p99 of every
# GET /api/metrics/<name>/ over the default range (last 30 days) for a superuser, and filtered by a role for
# an agent whose roles scope it (issue 17).
#
#   bash bench/dashboard_api.sh                                  # about 8 minutes (data generation included)
#   CONVERSATIONS=20000 REQUESTS=10 bash bench/dashboard_api.sh
#
# MariaDB (1 GB buffer pool), Redis and the product's web server on core 0; the HTTP client on core 1.
# Prints a table and PASS/FAIL against p95 < 500 ms for every endpoint; writes
# bench/results/dashboard_api-<timestamp>.json. Exit status 0 = PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_prepare

# The data set does not fit MariaDB's default 128 MB buffer pool; a production server has more.
mariadb --no-defaults --socket="$MARIADB_SOCK" -uroot \
  -e "SET GLOBAL innodb_buffer_pool_size = ${BUFFER_POOL_BYTES:-1073741824}"

DATA=$LOG/dashboard_api-data.json
say "Generating ${CONVERSATIONS:-100000} chats x ${MESSAGES_PER_CHAT:-20} messages (bulk SQL)"
taskset -c 1 "$PY" -m bench.dashboard_api generate --conversations "${CONVERSATIONS:-100000}" \
  --messages-per-chat "${MESSAGES_PER_CHAT:-20}" --out "$DATA"

PORT=$(bench_free_port)
say "Starting the web server on 127.0.0.1:$PORT (core 0)"
taskset -c 0 "$PY" -m whatsapp_ia.server -b 127.0.0.1 -p "$PORT" -v 0 --access-log /dev/null bench.asgi:application \
  >"$LOG/daphne.log" 2>&1 </dev/null &
DAPHNE_PID=$!
BENCH_PIDS+=("$DAPHNE_PID")
for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/bench/bare-asgi" 2>/dev/null && break
  kill -0 "$DAPHNE_PID" 2>/dev/null || { tail -30 "$LOG/daphne.log"; exit 1; }
  sleep 0.2
done

say "Measuring every GET /api/metrics/<name>/ (${REQUESTS:-30} requests each, 1 connection, core 1)"
set +e
taskset -c 1 "$PY" -m bench.dashboard_api measure --port "$PORT" --data "$DATA" --requests "${REQUESTS:-30}" \
  --warmup "${WARMUP:-3}" --results "$RESULTS/dashboard_api-$(date +%Y%m%d-%H%M%S).json"
status=$?
set -e
if grep -qiE "traceback|error" "$LOG/daphne.log"; then
  echo "The server logged errors (last lines of $LOG/daphne.log):"
  grep -iE "traceback|error" "$LOG/daphne.log" | tail -5
fi
exit $status
