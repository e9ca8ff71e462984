#!/usr/bin/env bash
# Agent console fan-out: from a message being stored to every connected console receiving it, beside a
# bare websockets broadcast server measured in the same run; the time from a webhook POST to a console;
# and the sending side's cost per event before/after the console event log.
# Targets (issue 13): 200 consoles, 20 events/s for 60 s, 100% delivered, p95 < 100 ms (stored -> console);
# p95 < 300 ms (webhook POST -> console).
#
#   bash bench/console_fanout.sh                         # the whole run (about 4 minutes)
#   bash bench/console_fanout.sh --consoles 50 --seconds 20 --webhooks 40
#   bash bench/console_fanout.sh --send-cost-only        # the sending side only (about 30 s)
#
# The product (web server, worker, scheduler, embedded Redis, SQLite) and the bare server on core 0;
# the consoles (websocket clients), the webhook POSTs, the fake Graph and the driver on core 1.
# Prints tables and PASS/FAIL; writes bench/results/console-fanout-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROOT=$PWD
LOG=$ROOT/var/bench-logs
mkdir -p "$LOG" bench/results
export ROOT LOG
if [ "$(nproc)" -lt 2 ]; then
  echo "This benchmark pins the product and the clients to separate cores: it needs 2 cores." >&2
  exit 1
fi
bench_debian_packages
bench_venv
export PYTHONDONTWRITEBYTECODE=1
unset DJANGO_SETTINGS_MODULE CELERY_BROKER_URL CELERY_RESULT_BACKEND CELERY_TASK_ALWAYS_EAGER DATABASE_URL REDIS_URL

say "Benchmark"
set +e
taskset -c 1 "$PY" -m bench.console_fanout "$@"
status=$?
set -e
exit $status
