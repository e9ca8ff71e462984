#!/usr/bin/env bash
# Voice notes beside text (issue 15): bursts of 20 voice notes of 30 s arrive while texts flow at 20/s;
# text replies' p95 (POST -> reply at a local Graph API) must stay within 10 % of the same load without them
# (three bursts, each followed by texts alone, pooled: about 10 min).
#   bash bench/voice_burst.sh [--rounds 3] [--notes 20] [--note-seconds 30] [--rate 20] [--seconds 40] [--max-slowdown 0.10]
# The product on core 0, its media worker at idle priority on core 1 (MEDIA_WORKER_CPUS=1; --media-cpus ""
# keeps it on core 0), the load and the fake Graph on core 1.
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
say "Benchmark"
exec taskset -c 1 "$PY" -m bench.voice_burst "$@"
