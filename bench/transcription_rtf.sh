#!/usr/bin/env bash
# Vosk transcription speed (issue 15): real-time factor of a 30 s Ogg/Opus voice note; exit 0 when RTF <= --max-rtf.
#   bash bench/transcription_rtf.sh [--cores 0] [--max-rtf 1.0] [--seconds 30] [--grammar] [--json bench/results/transcription_rtf.json]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROOT=$PWD
LOG=$ROOT/var/bench-logs
mkdir -p "$LOG"
bench_venv
exec "$PY" bench/transcription_rtf.py "$@"
