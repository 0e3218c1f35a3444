#!/usr/bin/env bash
# Real containerd 1.6 + runc with kata-block as a proxy snapshotter: import a 3-layer image
# (whiteout, opaque directory) through our snapshotter, run a container, use `ctr snapshots`,
# then remove the image and check that the backend's devices are gone. Root.
# Usage: run-containerd.sh /path/to/snapctl
# KBS_BACKEND=dm-thin runs it on a dm-thin pool (in the VM); the default is the file backend.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
snapctl=$(realpath "${1:?usage: run-containerd.sh /path/to/snapctl}")
work=$(mktemp -d /tmp/kbs-ctr.XXXXXX)
backend=${KBS_BACKEND:-file}
pool=kbs-ctr-$$

source "$here/daemons.sh"
trap remove_work EXIT

# 1. The snapshotter daemon.
start_kata_block
check "snapctl serve listens on its socket, mode 0600" test "$(stat -c %a "$work/kbs.sock" 2>/dev/null)" = 600

# 2. containerd with its own root, state and socket, and kata-block as a proxy plugin.
start_containerd
check "containerd is up" ctr version

# 3. Import the image: containerd unpacks it through our snapshotter.
python3 "$here/make-image.py" "$work/image.tar" kbs.local/test:latest
check "ctr image import unpacks through kata-block" ctr image import --snapshotter kata-block "$work/image.tar"
layers=$(ctr snapshots --snapshotter kata-block ls | tail -n +2 | wc -l)
check "three committed layers exist (got $layers)" test "$layers" -eq 3

# 4. Run a container on a kata-block block device.
out=$(ctr run --rm --snapshotter kata-block kbs.local/test:latest kbs-c1 /bin/sh -c \
  'cat /top.txt; cat /etc/motd; test -e /etc/removeme && echo removeme-present || echo removeme-absent; ls /data/dir' 2>&1)
echo "$out" | sed 's/^/     | /'
check "the container prints the top layer's file" grep -q "hello from the top layer" <<<"$out"
check "the whiteout hides the deleted file" grep -q "removeme-absent" <<<"$out"
check "the opaque directory hides the lower layer's files" test "$(grep -E '^(new|old-a|old-b)$' <<<"$out" | tr '\n' ' ')" = "new "

# 5. ctr snapshots verbs.
ctr snapshots --snapshotter kata-block prepare kbs-manual "$(ctr snapshots --snapshotter kata-block ls | awk 'NR>1 && $2 != "" {print $1}' | head -1)" >/dev/null
check "ctr snapshots prepare" ctr snapshots --snapshotter kata-block info kbs-manual
check "ctr snapshots mounts shows a block device" bash -c "command ctr --address $work/containerd.sock --namespace kbs-test snapshots --snapshotter kata-block mounts /mnt kbs-manual | grep -qE '/dev/(loop|mapper/)'"
check "ctr snapshots usage" ctr snapshots --snapshotter kata-block usage
check "ctr snapshots tree" ctr snapshots --snapshotter kata-block tree
check "ctr snapshots label" ctr snapshots --snapshotter kata-block label kbs-manual test=yes
check "the label is stored" bash -c "command ctr --address $work/containerd.sock --namespace kbs-test snapshots --snapshotter kata-block info kbs-manual | grep -q '\"test\": \"yes\"'"
check "ctr snapshots rm" ctr snapshots --snapshotter kata-block rm kbs-manual

# 6. Another frontend's namespace on the same pool, made while the daemon serves: containerd never
#    sees it, and its garbage collection (which removes every snapshot it has no record of) leaves it.
s() { "$snapctl" "$@" --state-dir "$work/kbs" --namespace containers-storage -q; }
other_namespace() { s snapshot prepare other-layer-active && s snapshot commit other-layer other-layer-active && s snapshot prepare other-container other-layer; }
unseen() { ! ctr snapshots --snapshotter kata-block ls | grep -q other-; }
check "snapctl, beside the running daemon, makes a layer and a container in another namespace" other_namespace
check "containerd does not see them" unseen

# 7. Image removal and garbage collection take containerd's snapshots and their devices away.
images=$(backend_devices)
check "the backend holds the layers' devices before removal ($images)" test "$images" -ge 6
check "ctr image rm --sync" ctr image rm --sync kbs.local/test:latest
for _ in $(seq 100); do
  [ "$(ctr snapshots --snapshotter kata-block ls | tail -n +2 | wc -l)" -eq 0 ] && break; sleep 0.1
done
check "no snapshots remain in containerd" test "$(ctr snapshots --snapshotter kata-block ls | tail -n +2 | wc -l)" -eq 0
# Devices of removed snapshots are deleted by the daemon's maintenance moments later.
for _ in $(seq 50); do remaining=$(backend_devices); [ "$remaining" -eq 3 ] && break; sleep 0.2; done
check "the base device and the other namespace's two devices remain in the backend (got $remaining)" test "$remaining" -eq 3
others=$("$snapctl" snapshot ls --state-dir "$work/kbs" --namespace containers-storage -q | sort | tr '\n' ' ')
check "garbage collection left the other namespace's snapshots (got: $others)" test "$others" = "other-container other-layer "
attached=$(attached_devices)
check "only the other namespace's container device is attached (got $attached)" test "$attached" -eq 1
check "the other namespace's snapshots are removed by their own frontend" s snapshot rm other-container other-layer
check_pool_settled_and_stop
report "containerd ($backend)"
