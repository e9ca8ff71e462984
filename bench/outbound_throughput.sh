#!/usr/bin/env bash
# Outbound throughput benchmark: 10,000 queued replies to 2,000 numbers, sent by real Celery workers
# to a local fake Graph API that enforces 80 messages/s per business number and a 2 s pair interval
# (answering 130429 / 131056 beyond them). Target: >= 76 messages/s sustained, no rate-limit error.
#
#   bash bench/outbound_throughput.sh                  # about 3-7 minutes (stops by itself: --timeout 400)
#   bash bench/outbound_throughput.sh --messages 2000 --numbers 400     # a shorter run
#
# MariaDB, Redis and the workers share core 0; the fake Graph server (and this driver) core 1.
# Prints a table and PASS/FAIL; writes bench/results/outbound-<timestamp>.json. Exit status 0 = PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_prepare

say "Benchmark"
set +e
BENCH_MARIADB_PID_FILE=$RUN_DIR/mysqld.pid BENCH_REDIS_PID_FILE=$RUN_DIR/redis.pid "$PY" -m bench.outbound_throughput "$@"
status=$?
set -e
exit $status
