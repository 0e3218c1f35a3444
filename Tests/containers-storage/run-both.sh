#!/usr/bin/env bash
# Both frontends on one pool at once: containerd through `snapctl serve` and podman through the
# driver, on one state directory. They import the same image and run containers at the same
# time; each sees only its own snapshots; the daemon is killed (SIGKILL) while a podman
# container runs and is restarted, and both go on; `podman rmi` leaves containerd's layers
# and containerd's garbage collection after `ctr image rm` leaves podman's; in the end only the
# pool's base device is left and fsck finds the pool consistent. Root; file backend.
#   run-both.sh BIN_DIR        (BIN_DIR holds snapctl and libkata-block-driver.so)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:?usage: run-both.sh BIN_DIR}")
snapctl="$bin/snapctl"
work=$(mktemp -d /tmp/kbs-both.XXXXXX)
trap 'rm -rf "$work"' EXIT
backend=file pool=unused KBS_DEFAULT_SIZE=1GiB
scratch=$work state=$work/kbs
source "$here/../containerd/daemons.sh"
source "$here/podman-env.sh" || exit 1
cleanup() {
  P rm -af >/dev/null 2>&1
  P rmi -af >/dev/null 2>&1
  remove_work
}
trap cleanup EXIT
in_namespace() { "$snapctl" snapshot ls --state-dir "$state" --namespace "$1" -q | wc -l; }
top="hello from the top layer"

start_kata_block
start_containerd
check "snapctl serve and containerd are up" ctr version
python3 "$here/../containerd/make-image.py" "$work/image.tar" kbs.local/test:latest

# 1. The same image imported by both at once.
ctr image import --snapshotter kata-block "$work/image.tar" > "$work/ctr-import.log" 2>&1 & ctr_import=$!
P load -q -i "$work/image.tar" > "$work/podman-load.log" 2>&1 & podman_load=$!
check "ctr image import, while podman loads the same image" wait "$ctr_import"
check "podman load, while containerd imports the same image" wait "$podman_load"
check "three layers in containerd's namespace (got $(in_namespace containerd))" test "$(in_namespace containerd)" -eq 3
check "three layers in containers/storage's (got $(in_namespace containers-storage))" test "$(in_namespace containers-storage)" -eq 3
check "snapctl snapshot ls lists both namespaces" test "$("$snapctl" snapshot ls --state-dir "$state" -q | wc -l)" -eq 6
check "containerd sees only its own three" test "$(ctr snapshots --snapshotter kata-block ls | tail -n +2 | wc -l)" -eq 3

# 2. A container from each at once.
ctr run --rm --snapshotter kata-block kbs.local/test:latest kbs-c1 /bin/cat /top.txt > "$work/ctr-run.log" 2>&1 & ctr_run=$!
P run --rm kbs.local/test:latest /bin/sh -c 'cat /top.txt; grep " / " /proc/mounts' > "$work/podman-run.log" 2>&1 & podman_run=$!
wait "$ctr_run"; wait "$podman_run"
sed 's/^/     | /' "$work/ctr-run.log" "$work/podman-run.log"
check "containerd's container printed from the image" grep -q "$top" "$work/ctr-run.log"
check "podman's container printed from the image, at the same time" grep -q "$top" "$work/podman-run.log"
check "podman's container's / is one of our loop devices" grep -qE '^/dev/loop[0-9]+ / ext4 ' "$work/podman-run.log"

# 3. The daemon killed while a podman container runs (podman does not need it), then restarted:
#    containerd reconnects, the pool is consistent, the container's write is kept.
container=$(P run -d kbs.local/test:latest /bin/sh -c 'sleep 2; echo survived > /written')
kill -KILL "$kbs_pid"; wait "$kbs_pid" 2>/dev/null; rm -f "$work/kbs.sock"
ctr snapshots --snapshotter kata-block ls >/dev/null 2>&1
start_kata_block
for _ in $(seq 100); do ctr snapshots --snapshotter kata-block ls >/dev/null 2>&1 && break; sleep 0.1; done
check "containerd talks to the restarted daemon" ctr snapshots --snapshotter kata-block ls >/dev/null
check "podman's container ran through the kill (exit 0)" test "$(P wait "$container")" = 0
mnt=$(P container mount "$container")
check "its write is in its layer" test "$(cat "$mnt/written" 2>/dev/null)" = survived
P container unmount "$container" >/dev/null
P rm "$container" >/dev/null

# 4. podman rmi leaves containerd's layers, and containerd still runs from them.
check "podman rmi -a" P rmi -af >/dev/null
check "no layer left in containers/storage's namespace" test "$(in_namespace containers-storage)" -eq 0
check "containerd's three layers are untouched" test "$(in_namespace containerd)" -eq 3
out=$(ctr run --rm --snapshotter kata-block kbs.local/test:latest kbs-c2 /bin/cat /top.txt 2>&1)
check "containerd runs from them after podman's removal" grep -q "$top" <<<"$out"

# 5. containerd's garbage collection leaves podman's layers, and podman still runs from them.
P load -q -i "$work/image.tar" >/dev/null
check "ctr image rm --sync" ctr image rm --sync kbs.local/test:latest >/dev/null
for _ in $(seq 100); do [ "$(in_namespace containerd)" -eq 0 ] && break; sleep 0.1; done
check "containerd's garbage collection removed its layers" test "$(in_namespace containerd)" -eq 0
check "podman's three layers are untouched" test "$(in_namespace containers-storage)" -eq 3
out=$(P run --rm kbs.local/test:latest /bin/cat /top.txt 2>&1)
check "podman runs from them after containerd's collection" grep -q "$top" <<<"$out"

# 6. Everything removed: the base device alone is left, nothing attached, fsck clean.
P rmi -af >/dev/null
check_pool_settled_and_stop
check "no device is attached (got $(attached_devices))" test "$(attached_devices)" -eq 0
[ "$failed" -gt 0 ] && cat "$work"/*-import.log "$work"/*-load.log 2>/dev/null | tail -20
report "containerd and podman on one pool"
