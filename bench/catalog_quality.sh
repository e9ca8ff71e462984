#!/usr/bin/env bash
# Catalog AI quality benchmark (issue 14): page recall, facts in answers, fallbacks, answer checks, latency,
# on bench/catalog_eval/ (a 25-page catalog with 6 scanned pages and 272 questions), offline by default.
#
#   bash bench/catalog_quality.sh                         # about 1 min the first time (ingestion), 30 s after
#   bash bench/catalog_quality.sh --show-failures --kind policy,synonym
#   bash bench/catalog_quality.sh --json bench/results/catalog_quality.json
#   OPENAI_API_KEY=... OPENAI_BASE_URL=... bash bench/catalog_quality.sh --online
#
# No MariaDB, no server: a throw-away SQLite database, media dir, vector store and private Redis under
# var/bench-catalog-quality/ (kept between runs, keyed by the PDF, catalog_ai's code and the AI_* variables;
# --fresh rebuilds).
# Needs Tesseract with Spanish (tesseract-ocr-spa) for the scanned pages. Exit status 0 = every target met.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROOT=$PWD
LOG=$ROOT/var/bench-logs
mkdir -p "$LOG"
bench_venv
if ! command -v tesseract >/dev/null 2>&1 || ! tesseract --list-langs 2>/dev/null | grep -qx spa; then
  echo "Tesseract with Spanish is needed for the scanned pages: sudo apt-get install tesseract-ocr tesseract-ocr-spa" >&2
  exit 2
fi
exec "$PY" bench/catalog_quality.py "$@"
