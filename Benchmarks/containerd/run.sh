#!/usr/bin/env bash
# containerd snapshots API benchmark: kata-block (snapctl serve) side by side with containerd 1.6's
# own overlayfs and native snapshotters served over the same proxy path (contrib/snapshotservice),
# driven by containerd's proxy client; then kata-block's RSS with 10,000 snapshots and its restart
# time. Root. Usage: Benchmarks/containerd/run.sh [ITERATIONS]   (prints numbers, asserts nothing)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
n=${1:-300}
work=$(mktemp -d /tmp/kbs-bench.XXXXXX)
cleanup() {
  set +e
  pkill -TERM -f "$work/" 2>/dev/null
  for _ in $(seq 100); do pgrep -f "$work/" >/dev/null || break; sleep 0.1; done
  for s in "$work"/kbs-*/; do "$snapctl" pool destroy --force -q --state-dir "$s"; done
  rm -rf "$work"
}
trap cleanup EXIT

swift build -c release --product snapctl --package-path "$repo" >&2
snapctl=$repo/.build/release/snapctl
(cd "$here/snapbench-go" && GO111MODULE=off GOPATH=/usr/share/gocode go build -o "$work/snapbench-go" .)
bench=$work/snapbench-go

wait_socket() { for _ in $(seq 2000); do [ -S "$1" ] && return 0; sleep 0.005; done; echo "no socket $1" >&2; return 1; }

start() {  # start NAME TAG -> socket path; a fresh store every time
  local name=$1 tag=$2 sock="$work/$1-$2.sock"
  case $name in
    kata-block) "$snapctl" serve --state-dir "$work/kbs-$tag" --socket "$sock" >/dev/null 2>"$work/kbs-$tag.log" & ;;
    *) "$bench" serve "$name" "$work/$name-$tag" "$sock" >/dev/null 2>&1 & ;;
  esac
  wait_socket "$sock"
  echo "$sock"
}

results=$work/results.tsv
for clients in 1 4; do
  for name in kata-block overlayfs native; do
    echo "running $name with $clients client(s), $n iterations" >&2
    sock=$(start "$name" "c$clients")
    "$bench" run "$name" "$sock" "$clients" "$n" >> "$results"
    pkill -TERM -f "$sock" || true
  done
done

echo
echo "containerd snapshots API through containerd's proxy client ($n iterations; throughput, median latency in ms)"
awk -F'\t' '
  { key = $3 "\t" $2; if (!(key in seen)) { order[++k] = key; seen[key] = 1 }; cell[key, $1] = $4 " (" $5 ")" }
  END {
    printf "%-32s %-8s %-24s %-24s %-24s\n", "operation", "clients", "kata-block", "overlayfs", "native"
    for (i = 1; i <= k; i++) { split(order[i], p, "\t")
      printf "%-32s %-8s %-24s %-24s %-24s\n", p[1], p[2], cell[order[i], "kata-block"], cell[order[i], "overlayfs"], cell[order[i], "native"] }
  }' "$results"

echo
echo "kata-block daemon with 10,000 snapshots"
sock=$(start kata-block big)
"$bench" fill "$sock" 10000 2>/dev/null
pid=$(pgrep -f -- "--socket $sock")
echo "  RSS after 10,000 prepare+commit: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
t0=$(date +%s%N)
"$snapctl" serve --state-dir "$work/kbs-big" --socket "$sock" >/dev/null 2>>"$work/kbs-big.log" &
wait_socket "$sock"
t1=$(date +%s%N)
pid=$!
echo "  restart until the socket serves: $(( (t1 - t0) / 1000000 )) ms (process start, open store, reconcile, listen)"
echo "  RSS after restart: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
