#!/usr/bin/env bash
# CSV export benchmark (issue 17): 1,000,000 messages through the analysts' date-range export; seconds and
# peak RSS at 100,000 and at 1,000,000 messages (memory must stay flat).
#
#   bash bench/export_csv.sh                    # SQLite (the embedded default), about 2 minutes
#   bash bench/export_csv.sh --db mariadb       # a throwaway MariaDB (bench/lib.sh), about 3 minutes
#   bash bench/export_csv.sh --rows 200000 --small 20000
#
# No server and no worker: bench/export_csv.py inserts the messages with executemany and runs the Celery
# task's body (analytics.services.export_jobs.message_export_run) in a fresh process per export, on core 0
# when taskset is there. SQLite database and export files under var/bench-export/ (made afresh each run).
# Prints the figures and PASS/FAIL (1,000,000 rows within 60 s; peak RSS within 20 MB of the 100,000-row
# export's); writes bench/results/export_csv-<timestamp>.json. Exit status 0 = PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
DB=sqlite
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --db) DB=$2; shift 2 ;;
    --db=*) DB=${1#--db=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
ROOT=$PWD
WORK=$ROOT/var/bench-export
rm -rf "$WORK"
mkdir -p "$WORK/media" "$ROOT/bench/results"
case "$DB" in
  sqlite)
    LOG=$ROOT/var/bench-logs
    mkdir -p "$LOG"
    bench_venv
    bench_django_env
    export DJANGO_SETTINGS_MODULE=whatsapp_ia.settings.base
    export DATABASE_URL="sqlite:///$WORK/db.sqlite3"
    ;;
  mariadb)
    bench_prepare
    ;;
  *) echo "--db is sqlite or mariadb" >&2; exit 2 ;;
esac
export MEDIA_ROOT=$WORK/media
PIN=()
command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ] && PIN=(taskset -c 0)
say "Export benchmark on $DB"
"${PIN[@]}" "$PY" bench/export_csv.py --json "$ROOT/bench/results/export_csv-$(date +%Y%m%d-%H%M%S).json" "${ARGS[@]}"
