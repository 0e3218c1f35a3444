#!/usr/bin/env bash
# Volumes for Kata, end to end: `snapctl volume create` makes a thin volume, `kata-attach` writes
# Kata's direct-volume description (mountInfo.json) for a pod volume path, and a VM guest gets the
# device that description names as a virtio-blk disk, mounts it with the described type and
# options and writes to it. The volume then grows while handed to Kata (the device only; the
# guest grows its filesystem online, as Kata's agent does), is copied, and the copy read on the
# host. containerd's garbage collection runs beside it and never touches it; `snapctl serve`
# killed and restarted writes the description again. Root.
#   run-volume.sh /path/to/snapctl
# On the host (file backend) the guest is a qemu TCG VM (scripts/vm/run.sh --disk). Inside the
# VM (KBS_IN_VM=1, KBS_BACKEND=dm-thin) the VM itself is the guest: it mounts the thin device.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
snapctl=$(realpath "${1:?usage: run-volume.sh /path/to/snapctl}")
work=$(mktemp -d /tmp/kbs-volume.XXXXXX)
backend=${KBS_BACKEND:-file}
pool=kbs-volume-$$
source "$repo/Tests/containerd/daemons.sh"
source "$here/guest.sh"
trap remove_work EXIT
# Where Kata's runtime would look (it reads $KATA_DIRECT_VOLUME_ROOT_PATH too); snapctl serve inherits it.
export KATA_DIRECT_VOLUME_ROOT_PATH=$work/kata
volume() { local verb=$1; shift; "$snapctl" volume "$verb" --state-dir "$work/kbs" "$@"; }
# refused WHAT EXPECTED-TEXT COMMAND...: the command fails (exit 1) and says EXPECTED-TEXT.
refused() {
  local what=$1 expected=$2 out rc; shift 2
  out=$("$@" 2>&1); rc=$?
  check "refused: $what ($out)" test "$rc" -eq 1 -a -n "$(grep -F -- "$expected" <<<"$out")"
}
# The description Kata reads for a volume path, as "volume-type device fstype options".
described() {
  python3 - "$work/kata" "$1" <<'PY'
import base64, json, sys
root, path = sys.argv[1], sys.argv[2]
with open(f"{root}/{base64.urlsafe_b64encode(path.encode()).decode()}/mountInfo.json") as f:
    info = json.load(f)
print(info["volume-type"], info["device"], info["fstype"], ",".join(info.get("options") or []) or "-")
PY
}

start_kata_block
start_containerd
check "snapctl serve ($backend) and containerd are up" ctr version >/dev/null
check "snapctl volume create data (ext4, 512 MiB)" volume create -q data --size 512MiB
check "snapctl volume create scratch (xfs, 400 MiB)" volume create -q scratch --size 400MiB --filesystem xfs
pod_path=/var/lib/kubelet/pods/5f0c1d2e/volumes/kubernetes.io~csi/data/mount
check "snapctl volume kata-attach data --volume-path $pod_path" volume kata-attach -q data --volume-path "$pod_path"
read -r vtype device fstype options <<<"$(described "$pod_path")"
echo "     | mountInfo.json: volume-type $vtype, device $device, fstype $fstype, options $options"
[ "$options" = - ] && options=
check "the description is Kata's: a block volume on $device with ext4" test "$vtype" = block -a -b "$device" -a "$fstype" = ext4
check "the description's directory is root's alone (0700)" test "$(stat -c %a "$(dirname "$(ls "$work"/kata/*/mountInfo.json)")")" = 700
check "snapctl volume ls shows the Kata path" grep -q "$pod_path" <<<"$(volume ls)"

# The guest: the described device as its disk, mounted with the described type and options, written.
write_job='set -e
mkdir -p /tmp/vol
mount -t "$2" ${3:+-o "$3"} "$1" /tmp/vol
echo written by the guest > /tmp/vol/guest-wrote
dd if=/dev/urandom of=/tmp/vol/data.bin bs=1M count=16 2>/dev/null
sha256sum /tmp/vol/data.bin | cut -d" " -f1 > /tmp/vol/data.sha256
echo "guest: $(awk '\''$2 == "/tmp/vol" { print $1, $3 }'\'' /proc/mounts), $(df -k /tmp/vol | awk '\''NR == 2 { print $2 }'\'') KiB"
umount /tmp/vol'
out=$(run_guest "$device" "$write_job" "$fstype" "$options"); rc=$?
echo "$out" | sed 's/^/     | /'
check "the guest mounted the described device and wrote to it (exit $rc)" test "$rc" -eq 0
check "the host has nothing of $device mounted" test -z "$(awk -v d="$device" '$1 == d' /proc/self/mounts)"

# Grown while handed to Kata: the device now, the filesystem by the guest (online, as Kata's agent does).
out=$(volume resize data --size 1GiB 2>&1)
echo "     | $out"
check "snapctl volume resize: the device grows, the filesystem is left to the guest" grep -q "not grown.*kata-runtime direct-volume resize" <<<"$out"
check "the device is 1 GiB now" test "$(blockdev --getsize64 "$device")" -eq $((1 << 30))
grow_job='set -e
mkdir -p /tmp/vol
mount -t "$2" ${3:+-o "$3"} "$1" /tmp/vol
resize2fs "$1" >/dev/null 2>&1
echo "guest: $(df -k /tmp/vol | awk '\''NR == 2 { print $2 }'\'') KiB after resize2fs"
test "$(sha256sum /tmp/vol/data.bin | cut -d" " -f1)" = "$(cat /tmp/vol/data.sha256)" && echo "guest: data intact"
umount /tmp/vol'
out=$(run_guest "$device" "$grow_job" "$fstype" "$options"); rc=$?
echo "$out" | sed 's/^/     | /'
kib=$(sed -n 's/^guest: \([0-9]*\) KiB after resize2fs/\1/p' <<<"$out")
check "the guest grew the filesystem online to ~1 GiB (${kib:-?} KiB) (exit $rc)" test "$rc" -eq 0 -a "${kib:-0}" -gt 900000
check "the guest's data is intact after the growth" grep -q "data intact" <<<"$out"

# A copy, read on the host.
check "snapctl volume snapshot data data-copy" volume snapshot -q data data-copy
copy_device=$(volume inspect data-copy --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["device"])')
mkdir -p "$work/copy"
check "the copy ($copy_device) mounts read-only on the host" mount -o ro "$copy_device" "$work/copy"
check "the copy holds the guest's file" test "$(cat "$work/copy/guest-wrote" 2>/dev/null)" = "written by the guest"
check "and its data, intact" test "$(sha256sum "$work/copy/data.bin" | cut -d' ' -f1)" = "$(cat "$work/copy/data.sha256" 2>/dev/null)"
umount "$work/copy"

# containerd's garbage collection beside the volumes.
python3 "$repo/Tests/containerd/make-image.py" "$work/image.tar" kbs.local/test:latest
check "containerd unpacks an image through kata-block" ctr image import --snapshotter kata-block "$work/image.tar" >/dev/null
check "ctr image rm --sync (containerd's GC removes its snapshots)" ctr image rm --sync kbs.local/test:latest >/dev/null
for _ in $(seq 100); do [ "$(ctr snapshots --snapshotter kata-block ls | tail -n +2 | wc -l)" -eq 0 ] && break; sleep 0.1; done
check "the volumes are all still there" test "$(volume ls -q | sort | tr '\n' ' ')" = "data data-copy scratch "

# snapctl serve killed; /run emptied as a reboot would; the restarted daemon describes the volume again.
kill -KILL "$kbs_pid"; wait "$kbs_pid" 2>/dev/null
rm -rf "$work/kata"
start_kata_block
check "snapctl serve restarted after SIGKILL" ctr version >/dev/null
check "the restarted daemon wrote the description again" test "$(described "$pod_path" 2>/dev/null | cut -d' ' -f1-2)" = "block $device"

# Bad input: clear errors, nothing changed.
refused "removing a volume handed to Kata" "handed to Kata" volume rm data
refused "a second volume named data" "already exists" volume create data --size 1GiB
refused "shrinking" "only grow" volume resize data --size 256MiB
refused "a volume path that is not absolute" "not absolute" volume kata-attach data-copy --volume-path relative/path
refused "a volume path another volume has" "already" volume kata-attach data-copy --volume-path "$pod_path"
refused "a volume that does not exist" "does not exist" volume inspect missing
check "the volumes are unchanged" test "$(volume ls -q | sort | tr '\n' ' ')" = "data data-copy scratch "

check "snapctl volume kata-detach data" volume kata-detach -q data
check "the description is gone" test -z "$(ls "$work/kata" 2>/dev/null)"
check "snapctl volume rm data data-copy scratch" volume rm -q data data-copy scratch
check "snapctl pool status counts no volume" grep -q "^volumes *0 " <<<"$("$snapctl" pool status --state-dir "$work/kbs")"
check_pool_settled_and_stop
report "volumes for Kata ($backend)"
