#!/usr/bin/env bash
# The Kata path, end to end: containerd unpacks an image through `snapctl serve`, a writable
# snapshot is prepared through containerd, its mounts are read through the API, and the block
# device they name is handed to a VM guest as a virtio-blk disk, as Kata hot-plugs it. The guest
# mounts it with the mount's type and options (plus `nouuid` for xfs, the one option Kata adds),
# runs the image's process in it (chroot) and writes a file; the host never mounts it meanwhile.
# Then a commit of the snapshot and a view of the commit show the guest's file on the host. Root.
#   run-guest.sh /path/to/snapctl
# On the host (file backend) the guest is a qemu TCG VM (scripts/vm/run.sh --disk). Inside the
# VM (KBS_IN_VM=1, KBS_BACKEND=dm-thin) the VM itself is the guest: it mounts the thin device.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
snapctl=$(realpath "${1:?usage: run-guest.sh /path/to/snapctl}")
work=$(mktemp -d /tmp/kbs-guest.XXXXXX)
backend=${KBS_BACKEND:-file}
pool=kbs-guest-$$
source "$repo/Tests/containerd/daemons.sh"
source "$here/guest.sh"
trap remove_work EXIT
snapshots() { ctr snapshots --snapshotter kata-block "$@"; }

start_kata_block
start_containerd
check "snapctl serve ($backend) and containerd are up" ctr version >/dev/null
python3 "$repo/Tests/containerd/make-image.py" "$work/image.tar" kbs.local/test:latest
check "containerd unpacks the image through kata-block" ctr image import --snapshotter kata-block "$work/image.tar" >/dev/null

# The image's top layer: the committed snapshot that is no other's parent.
top=$(snapshots ls | awk 'NR > 1 { key[$1] = 1; if ($2 != "") parent[$2] = 1 } END { for (k in key) if (!(k in parent)) print k }')
check "ctr snapshots prepare: a writable snapshot on the image's top layer" snapshots prepare kata-rootfs "$top" >/dev/null

# Its mounts, through the API: `mount -t TYPE SOURCE TARGET [-o OPTIONS]`.
# (Here-strings, not process substitution: the VM has no /dev/fd.)
mount_fields() { awk '{ for (i = 1; i <= NF; i++) { if ($i == "-t") t = $(i + 1); if ($i == "-o") o = $(i + 1) }; print t, $4, (o == "" ? "-" : o) }'; }
read -r type source options <<<"$(snapshots mounts /rootfs kata-rootfs | mount_fields)"
echo "     | containerd's mount: type $type, source $source, options $options"
check "the mount is a single block device ($source)" test -b "$source"
[ "$options" = - ] && options=
# What Kata forwards: the mount's own options, and nouuid for xfs.
[ "$type" = xfs ] && options=${options:+$options,}nouuid
check "the host has nothing of $source mounted" test -z "$(awk -v d="$source" '$1 == d' /proc/self/mounts)"
check "snapctl detect --mounts: Kata hot-plugs it as it is" \
  test "$("$snapctl" detect -q --mounts "[{\"type\":\"$type\",\"source\":\"$source\",\"options\":[]}]")" = block

# The guest: mount the disk, run the image's process in it, write a file.
guest_job='set -e
mkdir -p /tmp/rootfs
mount -t "$2" ${3:+-o "$3"} "$1" /tmp/rootfs
chroot /tmp/rootfs /bin/sh -c "cat /top.txt; cat /etc/motd; echo written by the guest > /guest-wrote"
echo "guest: / of the container is $(awk '\''$2 == "/tmp/rootfs" { print $1, $3 }'\'' /proc/mounts)"
umount /tmp/rootfs'
out=$(run_guest "$source" "$guest_job" "$type" "$options"); rc=$?
echo "$out" | sed 's/^/     | /'
check "the guest mounted the device and ran the image's process (exit $rc)" test "$rc" -eq 0
check "the process printed the image's top layer" grep -q "hello from the top layer" <<<"$out"
check "and its base layer" grep -q "layer one" <<<"$out"
check "the host still has nothing of $source mounted" test -z "$(awk -v d="$source" '$1 == d' /proc/self/mounts)"

# Back on the host: a commit of the snapshot and a view of the commit hold the guest's file.
check "ctr snapshots commit" snapshots commit kata-committed kata-rootfs
check "ctr snapshots view" snapshots view kata-view kata-committed
read -r vtype vsource voptions <<<"$(snapshots mounts /view kata-view | mount_fields)"
[ "$voptions" = - ] && voptions=
[ "$vtype" = xfs ] && voptions=${voptions:+$voptions,}nouuid
mkdir -p "$work/view"
check "the view mounts on the host ($vtype $vsource ${voptions:-})" mount -t "$vtype" ${voptions:+-o "$voptions"} "$vsource" "$work/view"
check "the guest's file is in the view: $(cat "$work/view/guest-wrote" 2>&1)" test "$(cat "$work/view/guest-wrote" 2>/dev/null)" = "written by the guest"
umount "$work/view"

check "the view and the commit are removed" snapshots rm kata-view kata-committed
check "ctr image rm --sync" ctr image rm --sync kbs.local/test:latest >/dev/null
for _ in $(seq 100); do [ "$(snapshots ls | tail -n +2 | wc -l)" -eq 0 ] && break; sleep 0.1; done
check_pool_settled_and_stop
report "the Kata path ($backend)"
