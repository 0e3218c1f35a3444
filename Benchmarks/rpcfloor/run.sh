#!/usr/bin/env bash
# The containerd snapshots API's per-call floor (issue 11, part 1): the Stat RPC on one key,
# driven by the same gRPC-Go client containerd's proxy uses (Benchmarks/containerd/snapbench-go),
# served by
#   kata-block    snapctl serve as it is (the engine behind it, file backend, its own gRPC
#                 server on swift-nio-http2 since issue 11 part 2)
#   nio-http2     a bare swift-nio-http2 responder answering the same constant (rpcfloor h2)
#   nio-frames    the same on the connection's HTTP/2 frames, no child channel per stream
#                 (rpcfloor h2conn)
#   containerd    containerd 1.6's gRPC-Go contrib/snapshotservice over overlayfs
# at 1 and 4 clients, on every core and pinned to one core (taskset -c 0, server and client),
# with the server's context switches and CPU migrations per call (perf stat). Root.
#   Benchmarks/rpcfloor/run.sh [CALLS] [THREADS]   (default 20000 calls; THREADS: the Swift
#   servers' event-loop threads, default 1)           Prints numbers; asserts nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
calls=${1:-20000}
threads=${2:-1}
command -v perf >/dev/null || apt-get install -y -q linux-perf >/dev/null
work=$(mktemp -d /tmp/kbs-rpcfloor.XXXXXX)
cleanup() {
  set +e
  [ -n "${pid:-}" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$repo/.build/release/snapctl" pool destroy --force -q --state-dir "$work/kbs" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

swift build -c release --product snapctl --package-path "$repo" >&2
swift build -c release --product rpcfloor --package-path "$repo" >&2
(cd "$repo/Benchmarks/containerd/snapbench-go" && GO111MODULE=off GOPATH=/usr/share/gocode go build -o "$work/snapbench-go" .)
bin=$repo/.build/release

# start NAME PIN: the server on a fresh socket; sets pid and sock.
start() {
  local name=$1 pin=$2
  sock=$work/$name.sock
  rm -f "$sock"
  case $name in
    kata-block) $pin "$bin/snapctl" serve --state-dir "$work/kbs" --socket "$sock" >/dev/null 2>"$work/kbs.log" & ;;
    nio-http2) $pin "$bin/rpcfloor" h2 "$sock" "$threads" >/dev/null 2>&1 & ;;
    nio-frames) $pin "$bin/rpcfloor" h2conn "$sock" "$threads" >/dev/null 2>&1 & ;;
    containerd) $pin "$work/snapbench-go" serve overlayfs "$work/overlay" "$sock" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 2000); do [ -S "$sock" ] && return 0; sleep 0.005; done
  echo "run.sh: $name did not listen" >&2
  return 1
}

results=$work/results.tsv
for placement in all one; do
  pin=""
  [ "$placement" = one ] && pin="taskset -c 0"
  for name in ${RPCFLOOR_SERVERS:-kata-block nio-http2 nio-frames containerd}; do
    start "$name" "$pin"
    for clients in 1 4; do
      echo "$name, $clients client(s), $placement core(s): $calls calls" >&2
      perf stat -e context-switches,cpu-migrations -x, -o "$work/perf.csv" -p "$pid" 2>/dev/null &
      perf_pid=$!
      sleep 0.3
      read -r ops p50 p99 < <($pin "$work/snapbench-go" statbench "$sock" "$clients" "$calls")
      kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
      total=$((calls + 500))
      switches=$(awk -F, '$3 == "context-switches" { print $1 }' "$work/perf.csv")
      migrations=$(awk -F, '$3 == "cpu-migrations" { print $1 }' "$work/perf.csv")
      awk -v OFS='\t' -v s="${switches:-0}" -v m="${migrations:-0}" -v t="$total" \
        'BEGIN { print ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], sprintf("%.2f", s / t), sprintf("%.3f", m / t); exit }' \
        "$placement" "$name" "$clients" "$ops" "$p50" "$p99" >> "$results"
    done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    pid=
  done
done

echo
echo "Stat on one key, $calls calls after 500 of warm-up, gRPC-Go client (containerd's proxy client), Swift servers on $threads event-loop thread(s)"
printf '%-6s %-11s %7s %9s %9s %9s %12s %12s %s\n' cores server clients "ops/s" "p50 us" "p99 us" "ctxsw/call" "migr/call" "vs containerd"
awk -F'\t' '{ row[NR] = $0; if ($2 == "containerd") base[$1, $3] = $4 }
  END { for (i = 1; i <= NR; i++) { split(row[i], f, "\t")
    printf "%-6s %-11s %7s %9s %9s %9s %12s %12s %.2fx\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[4] / base[f[1], f[3]] } }' "$results"
