#!/usr/bin/env bash
# End-to-end benchmark: signed Meta text webhooks at a steady rate, time from each POST to its reply at a
# local fake Graph API, beside a minimal stateless bot (pywa on uvicorn) measured in the same run.
# Targets (issue 12): 80 messages/s from 2,000 customers for 60 s, every message answered once,
# p95 <= 150 ms, p99 <= 300 ms, <= 10 ms of CPU per answered message (all product processes).
#
#   bash bench/e2e_pipeline.sh                     # embedded default: SQLite + embedded Redis (`manage.py serve`)
#   bash bench/e2e_pipeline.sh --db mariadb        # the same load on MariaDB + Redis
#   bash bench/e2e_pipeline.sh --rate 20 --seconds 30 --no-baseline
#
# The product (and MariaDB/Redis) on core 0; the load, the fake Graph and the driver on core 1.
# Prints a table, where the time goes per hop and PASS/FAIL; writes bench/results/e2e-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROOT=$PWD
LOG=$ROOT/var/bench-logs
mkdir -p "$LOG" bench/results
export ROOT LOG
if [ "$(nproc)" -lt 2 ]; then
  echo "This benchmark pins the product and the load to separate cores: it needs 2 cores." >&2
  exit 1
fi
bench_debian_packages
bench_venv
export PYTHONDONTWRITEBYTECODE=1
unset DJANGO_SETTINGS_MODULE CELERY_BROKER_URL CELERY_RESULT_BACKEND CELERY_TASK_ALWAYS_EAGER

pid_files=()
case " $* " in
  *" --db mariadb "*|*" --db=mariadb "*)
    export MARIADB_TASKSET="taskset -c 0" REDIS_TASKSET="taskset -c 0" TEST_DB=mariadb
    # shellcheck source=bin/lib/services.sh
    . "$ROOT/bin/lib/services.sh"
    services_start
    trap services_stop EXIT
    pid_files=("$RUN_DIR/mysqld.pid" "$RUN_DIR/redis.pid")
    ;;
esac

say "Benchmark"
set +e
taskset -c 1 "$PY" -m bench.e2e_pipeline "$@" --server-pid-files "${pid_files[@]}"
status=$?
set -e
exit $status
