#!/usr/bin/env bash
# Several processes on one state directory at once: `snapctl serve` answering containerd's proxy
# client (churn) the whole time, one kbs-stress worker running throughout, and another killed
# with SIGKILL at random moments and started again, KILLS times. Afterwards every acknowledged
# snapshot is there, fsck finds nothing, no loop device or mount of the pool is left that no
# record explains, and the daemon answered every call. Root.
#   multi-process.sh SNAPCTL KBS-STRESS [SECONDS] [KILLS]
#   multi-process.sh --build-only      builds the Go client (containerd's proxy client) and prints its path
# KBS_BACKEND=dm-thin runs it on a dm-thin pool (in the VM, where the client is built beforehand).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
churn="$here/../../.build/kbs-churn"
if [ -z "${KBS_IN_VM:-}" ]; then
  (cd "$here/churn" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=${GOCACHE:-/var/cache/kata-block/go-build} GOFLAGS= go build -o "$churn" .) || exit 1
fi
[ "${1:-}" = "--build-only" ] && { echo "$churn"; exit 0; }
[ -x "$churn" ] || { echo "multi-process.sh: $churn is missing; run it with --build-only on the host first" >&2; exit 1; }
snapctl=$(realpath "${1:?usage: multi-process.sh SNAPCTL KBS-STRESS [SECONDS] [KILLS]}")
stress=$(realpath "${2:?}")
seconds=${3:-60}
kills=${4:-20}
backend=${KBS_BACKEND:-file}
work=$(mktemp -d /tmp/kbs-mp.XXXXXX)
state=$work/state
pids=()
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  "$snapctl" pool destroy --force -q --state-dir "$state" 2>/dev/null
  for m in $(awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
  for loop in $(losetup -a | grep "$work" | cut -d: -f1); do losetup -d "$loop"; done
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/kbs.toml" <<TOML
backend = "$backend"
default_size = "1GiB"
async_remove = true
[file]
pool_size = "16GiB"
[dm_thin]
pool_name = "kbs-mp-$$"
data_size = "8GiB"
TOML
"$snapctl" serve --config "$work/kbs.toml" --state-dir "$state" --socket "$work/kbs.sock" > "$work/serve.log" 2>&1 &
serve=$!
pids+=("$serve")
for _ in $(seq 600); do [ -S "$work/kbs.sock" ] && break; sleep 0.05; done
check "snapctl serve listens" test -S "$work/kbs.sock"

"$churn" "$work/kbs.sock" "$seconds" > "$work/churn.log" 2>&1 &
churner=$!
pids+=("$churner")
"$stress" work "$state" steady "$seconds" "$work/journal-steady" > "$work/steady.log" 2>&1 &
steady=$!
pids+=("$steady")

# The killed worker: started, killed at a random moment, started again.
end=$((SECONDS + seconds))
killed=0
for round in $(seq "$kills"); do
  left=$((end - SECONDS))
  [ "$left" -lt 2 ] && left=2
  "$stress" work "$state" "killed-$round" "$left" "$work/journal-killed" >> "$work/killed.log" 2>&1 &
  victim=$!
  # About seconds/kills apart, at a random point of each slot.
  slot=$(( (seconds * 1000) / kills ))
  sleep "$(awk -v s="$slot" -v r="$RANDOM" 'BEGIN { printf "%.3f", (s * (0.3 + 0.7 * r / 32767)) / 1000 }')"
  if kill -9 "$victim" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$victim" 2>/dev/null
done
check "the second worker was killed $kills times ($killed while working)" test "$killed" -ge $((kills / 2))

wait "$steady"; steady_rc=$?
check "the steady worker finished ($(tail -1 "$work/steady.log"))" test "$steady_rc" -eq 0
wait "$churner"; churn_rc=$?
check "the daemon answered every call of containerd's client ($(tail -1 "$work/churn.log"))" test "$churn_rc" -eq 0
[ "$churn_rc" -eq 0 ] || tail -5 "$work/churn.log"
kill -TERM "$serve"; wait "$serve"; serve_rc=$?
check "snapctl serve exits 0 on SIGTERM" test "$serve_rc" -eq 0
[ "$serve_rc" -eq 0 ] || tail -20 "$work/serve.log"

# Everything acknowledged is there, nothing acknowledged as removed is, and the pool is consistent.
"$stress" verify "$state" "$work/journal-steady" "$work/journal-killed" > "$work/verify.log" 2>&1
verify_rc=$?
check "every acknowledged snapshot is there and the pool is consistent ($(head -1 "$work/verify.log"))" test "$verify_rc" -eq 0
[ "$verify_rc" -eq 0 ] || head -30 "$work/verify.log"
check "snapctl fsck finds nothing" "$snapctl" fsck -q --state-dir "$state"
records=$("$snapctl" snapshot ls --state-dir "$state" -q | wc -l)
if [ "$backend" = dm-thin ]; then
  attached=$(dmsetup ls | grep -c "^kbs-mp-$$-thin-" || true)
else
  attached=$(losetup -a | grep -c "$state/pool/.*dev-" || true)
fi
echo "     $records snapshots, $attached attached devices, $(grep -c "$state/mounts/" /proc/self/mountinfo || true) host mounts"

"$snapctl" pool destroy --force -q --state-dir "$state"
left=$( (losetup -a | grep "$work"; grep "$work" /proc/self/mountinfo; command -v dmsetup >/dev/null && dmsetup ls 2>/dev/null | grep "kbs-mp-$$") | wc -l)
check "nothing of the pool is left after destroy" test "$left" -eq 0
echo "multi-process ($backend, ${seconds}s, $kills kills): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
