#!/usr/bin/env bash
# Paired A/B of the end-to-end benchmark: another commit (A) and this working tree (B), run in turn on
# the same machine, so that a machine that slows down or speeds up meanwhile (shared hosts drift by
# a third within an hour) weighs on both alike. Prints each pair's figures and the ratio B/A of the
# CPU per reply; exits 1 when B costs more CPU than A in most pairs.
#
# The pairs take turns at going first (A B, then B A, ...): on this host the second run of a pair cost
# about 4 % more than the first whatever it ran (2026-12-07: the same two commits, swapped, gave B/A 1.05
# and 1.06, then 1.03 and 1.04 the other way round), so an even number of pairs cancels that out.
#
#   bash bench/ab.sh HEAD~3                                            # two pairs, embedded default
#   PAIRS=4 bash bench/ab.sh 35115c8 --db mariadb --rate 60 --seconds 30
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
  order="A B"
  if [ $((pair % 2)) = 0 ]; then order="B A"; fi  # each side goes first in every other pair
  for side in $order; do
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
    for side, row in (("A", a), ("B", b)) if n % 2 else (("B", b), ("A", a)):  # in the order they ran
        print(f"{n:<5} {side:<5} {row['cpu_ms_per_reply']:>6.1f} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f}"
              f" {row['p99_ms']:>8.1f}  {roles(row)}")
    ratios.append(b["cpu_ms_per_reply"] / a["cpu_ms_per_reply"])
median = statistics.median(ratios)
print(f"\nCPU per reply, B / A: {', '.join(f'{r:.2f}' for r in ratios)} (median {median:.2f})")
if len(ratios) % 2:
    print("An odd number of pairs: A went first once more than B (the second run of a pair tends to cost more).")
slower = sum(r > 1 for r in ratios) > len(ratios) / 2
print("B costs more CPU than A in most pairs" if slower else "B costs no more CPU than A in most pairs")
sys.exit(1 if slower else 0)
PY
