#!/usr/bin/env bash
# Two snapbench builds side by side: RUNS rounds, the two in turn and in alternating order (ABBA),
# with the disk let to settle between runs (each run ends by deleting its pool, and the discards
# and writeback of that would otherwise land on the next run); then one table of the medians of
# the runs' medians.
#   Benchmarks/snapbench/compare.sh OLD_SNAPBENCH NEW_SNAPBENCH [RUNS] [SNAPSHOTS]
set -euo pipefail
old=${1:?usage: compare.sh OLD_SNAPBENCH NEW_SNAPBENCH [RUNS] [SNAPSHOTS]}
new=${2:?}
runs=${3:-3}
snapshots=${4:-10000}
out=$(mktemp -d /tmp/snapbench-compare.XXXXXX)
trap 'rm -rf "$out"' EXIT
olds=() news=()
one() {  # one NAME BINARY ROUND
  sync; sleep 15
  "$2" --snapshots "$snapshots" > "$out/$1-$3.txt" 2>/dev/null
}
for r in $(seq "$runs"); do
  echo "round $r of $runs" >&2
  if [ $((r % 2)) -eq 1 ]; then one old "$old" "$r"; one new "$new" "$r"; else one new "$new" "$r"; one old "$old" "$r"; fi
  olds+=("$out/old-$r.txt") news+=("$out/new-$r.txt")
done
echo "snapbench, $runs rounds (ABBA order), $snapshots snapshots in the store (medians of the runs' medians)"
python3 "$(dirname "$0")/compare.py" "$(IFS=,; echo "${olds[*]}")" "$(IFS=,; echo "${news[*]}")"
