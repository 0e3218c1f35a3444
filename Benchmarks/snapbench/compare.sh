#!/usr/bin/env bash
# Two snapbench builds run alternately RUNS times (noise on a shared machine is large; alternating
# spreads it over both), then one table of median-of-medians, side by side.
#   Benchmarks/snapbench/compare.sh OLD_SNAPBENCH NEW_SNAPBENCH [RUNS] [SNAPSHOTS]
set -euo pipefail
old=${1:?usage: compare.sh OLD_SNAPBENCH NEW_SNAPBENCH [RUNS] [SNAPSHOTS]}
new=${2:?}
runs=${3:-3}
snapshots=${4:-10000}
out=$(mktemp -d /tmp/snapbench-compare.XXXXXX)
trap 'rm -rf "$out"' EXIT
olds=() news=()
for r in $(seq "$runs"); do
  echo "run $r of $runs" >&2
  "$old" --snapshots "$snapshots" > "$out/old-$r.txt" 2>/dev/null
  "$new" --snapshots "$snapshots" > "$out/new-$r.txt" 2>/dev/null
  olds+=("$out/old-$r.txt") news+=("$out/new-$r.txt")
done
echo "snapbench, $runs alternating runs each, $snapshots snapshots in the store (median of the runs' medians)"
python3 "$(dirname "$0")/compare.py" "$(IFS=,; echo "${olds[*]}")" "$(IFS=,; echo "${news[*]}")"
