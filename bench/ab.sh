#!/usr/bin/env bash
# Paired A/B of the end-to-end benchmark: another commit (A) and this working tree (B), run in turn on
# the same machine, so that a machine that slows down or speeds up meanwhile (shared hosts drift by
# a third within an hour) weighs on both alike. Prints each pair's figures and the ratio B/A of the
# CPU per reply; exits 1 when B costs more CPU than A in most pairs.
#
#   bash bench/ab.sh HEAD~3                                            # two pairs, embedded default
#   PAIRS=3 bash bench/ab.sh 35115c8 --db mariadb --rate 60 --seconds 30
#
# A is checked out in a git worktree under var/bench-ab/ (removed at the end) that uses this .venv.
# Every other argument goes to bench/e2e_pipeline.sh, with --no-baseline (each pair is the baseline).
# Logs: var/bench-logs/ab-{A,B}-<pair>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
rev=${1:?usage: bash bench/ab.sh <commit> [bench/e2e_pipeline.sh options]}
shift
sha=$(git rev-parse --verify --quiet "$rev^{commit}") || { echo "Not a commit: $rev" >&2; exit 2; }
PAIRS=${PAIRS:-2}
case $PAIRS in '' | *[!0-9]* | 0) echo "PAIRS must be a positive number" >&2; exit 2 ;; esac
LOG=$ROOT/var/bench-logs
tree=$ROOT/var/bench-ab/$sha
mkdir -p "$LOG" "$ROOT/var/bench-ab"

cleanup() {
  git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"
  git worktree prune
}
trap cleanup EXIT
cleanup
git worktree add --detach --quiet "$tree" "$sha"
ln -s "$ROOT/.venv" "$tree/.venv"

results=()
for pair in $(seq "$PAIRS"); do
  for side in A B; do
    if [ "$side" = A ]; then dir=$tree; what=${sha:0:10}; else dir=$ROOT; what="working tree"; fi
    log=$LOG/ab-$side-$pair.log
    echo "· pair $pair of $PAIRS, $side ($what) …"
    (cd "$dir" && bash bench/e2e_pipeline.sh --no-baseline "$@" >"$log" 2>&1) || true  # FAIL is a figure too
    figures=$(sed -n 's/.*(figures in \(bench\/results\/[^)]*\)).*/\1/p' "$log" | tail -1)
    if [ -z "$figures" ]; then
      echo "The run printed no figures; the end of $log:" >&2
      tail -20 "$log" >&2
      exit 1
    fi
    results+=("$side" "$dir/$figures")
  done
done

"$ROOT/.venv/bin/python" - "$sha" "${results[@]}" <<'PY'
import json
import statistics
import sys

sha, rest = sys.argv[1], sys.argv[2:]
runs = {"A": [], "B": []}
for side, path in zip(rest[::2], rest[1::2]):
    with open(path) as f:
        runs[side].append(json.load(f)["figures"][-1])

def roles(row):
    by = sorted(row["cpu_ms_per_reply_by_role"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{role} {ms:.1f}" for role, ms in by if ms >= 0.1)

print(f"\nPaired end-to-end runs: A = {sha[:10]}, B = the working tree (ms; CPU per answered reply, all processes)")
print(f"{'pair':<5} {'side':<5} {'CPU':>6} {'p50':>8} {'p95':>8} {'p99':>8}  by process")
ratios = []
for n, (a, b) in enumerate(zip(runs["A"], runs["B"]), start=1):
    for side, row in (("A", a), ("B", b)):
        print(f"{n:<5} {side:<5} {row['cpu_ms_per_reply']:>6.1f} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f}"
              f" {row['p99_ms']:>8.1f}  {roles(row)}")
    ratios.append(b["cpu_ms_per_reply"] / a["cpu_ms_per_reply"])
median = statistics.median(ratios)
print(f"\nCPU per reply, B / A: {', '.join(f'{r:.2f}' for r in ratios)} (median {median:.2f})")
slower = sum(r > 1 for r in ratios) > len(ratios) / 2
print("B costs more CPU than A in most pairs" if slower else "B costs no more CPU than A in most pairs")
sys.exit(1 if slower else 0)
PY
