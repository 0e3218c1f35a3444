#!/usr/bin/env bash
# containers/storage's own CLI with the kata-block driver linked in, as a user of the store would
# drive it: a 3-layer chain (a whiteout, an opaque directory) imported, an image and a container
# made, the container mounted (our block device, its filesystem's root) and written, unmounted
# by another process, changes/diff/diffsize of its layer, a read-only mount of the image, then
# everything deleted and the pool taken down: nothing may be left. Root.
#   run-cli.sh BIN_DIR        (BIN_DIR holds snapctl and libkata-block-driver.so)
# KBS_BACKEND=dm-thin runs it on dm-thin (in the VM; the CLI is built on the host beforehand).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:?usage: run-cli.sh BIN_DIR}")
source "$here/go-env.sh"
cli="$bin/containers-storage-kata"
[ -n "${KBS_IN_VM:-}" ] || "$here/build-cli.sh" "$bin" >/dev/null
snapctl="$bin/snapctl"
backend=${KBS_BACKEND:-file}
scratch=$(mktemp -d "${KBS_SCRATCH:-/var/tmp}/kbs-cli.XXXXXX")
graph="$scratch/graph" run="$scratch/run" state="$scratch/graph/kata-block"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
cs() {
  "$cli" --graph "$graph" --run "$run" --storage-driver kata-block --storage-opt "kata-block.backend=$backend" \
    --storage-opt kata-block.default_size=1GiB --storage-opt kata-block.file.pool_size=16GiB \
    --storage-opt kata-block.dm_thin.data_size=4GiB "$@"
}
finish() {
  local rc=$?
  "$snapctl" pool destroy --state-dir "$state" --force >/dev/null 2>&1 || true
  rm -rf "$scratch"
  exit "$rc"
}
trap finish EXIT
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# The mountinfo line of a mount point: "root mountpoint options - type source".
mountinfo() { awk -v m="$1" '$5 == m { for (i = 1; $i != "-"; i++); print $4, $5, $6, "-", $(i+1), $(i+2) }' /proc/self/mountinfo; }

python3 "$here/../containerd/make-image.py" --layers "$scratch"
l1=$(cs import-layer -f "$scratch/layer-1.tar" | sed -n 1p)
l2=$(cs import-layer -f "$scratch/layer-2.tar" "$l1" | sed -n 1p)
l3=$(cs import-layer -f "$scratch/layer-3.tar" "$l2" | sed -n 1p)
image=$(cs create-image -n kbs-test:latest "$l3" | sed -n 1p)
container=$(cs create-container -n kbs-container "$image" | sed -n 1p)
layer=$(cs container --json "$container" | json '[0]["layer"]')
pass "imported 3 layers, made image ${image:0:12} and container ${container:0:12} (layer ${layer:0:12})"

root=$(cs mount "$container")
info=$(mountinfo "$root")
read -r fsroot _ _ _ fstype source <<<"$info"
[ "$fsroot" = "/" ] && [ -b "$source" ] && { [ "$fstype" = ext4 ] || [ "$fstype" = xfs ]; } \
  && pass "the container's root $root is the root of $fstype on block device $source" \
  || fail "the container's mount is not a filesystem root on a block device: $info"
[ "$(cat "$root/etc/motd")" = "layer one" ] && [ ! -e "$root/etc/removeme" ] && [ "$(ls "$root/data/dir")" = new ] \
  && [ -f "$root/top.txt" ] && pass "the layers read through: whiteout applied, opaque directory emptied, top file there" \
  || fail "the container's tree is wrong: $(ls -R "$root" | head -30)"
echo "written by the host" > "$root/written.txt"
# Unmount from another process (each CLI call is one): the mount count is the store's.
cs unmount "$container" >/dev/null
grep -q " $root " /proc/self/mountinfo && fail "$root is still mounted after unmount" || pass "unmounted by another process"

changes=$(cs changes "$layer")
[ "$changes" = 'Add "/written.txt"' ] && pass "changes of the container layer: $changes" || fail "changes: $changes"
cs diff -u -f "$scratch/diff.tar" "$layer"
listing=$(tar -tf "$scratch/diff.tar")
[ "$listing" = written.txt ] && pass "diff is a tar of written.txt" || fail "diff lists: $listing"
size=$(cs diffsize "$layer")
[ "$size" = 20 ] && pass "diffsize $size bytes" || fail "diffsize $size, want 20"
changes=$(cs changes "$l2" "$l1" | sort | tr '\n' ' ')
expected='Add "/data/dir/new" Delete "/data/dir/old-a" Delete "/data/dir/old-b" Delete "/etc/removeme" Modify "/data" Modify "/data/dir" Modify "/etc" '
[ "$changes" = "$expected" ] && pass "changes of layer 2 against layer 1: $changes" || fail "layer 2 changes: $changes, want $expected"

image_root=$(cs mount -r "$image")
options=$(mountinfo "$image_root" | awk '{print $3}')
case ",$options," in *,ro,*) ;; *) fail "the read-only image mount has options $options" ;; esac
case ",$options," in *,nosuid,*noexec,*|*,noexec,*nosuid,*) pass "the image mounts read-only with the options asked for ($options)" ;;
  *) fail "the image mount lacks nosuid,noexec: $options" ;; esac
touch "$image_root/x" 2>/dev/null && fail "a read-only image mount took a write" || pass "the read-only image mount refuses writes"
[ ! -e "$image_root/written.txt" ] && pass "the image does not see the container's write" || fail "the container's write leaked into the image"
cs unmount "$image" >/dev/null

cs delete-container "$container" >/dev/null
# Deleting the image deletes its layers too (top first): the driver's Remove of each.
cs delete-image "$image" >/dev/null
[ -z "$(cs layers)" ] && pass "deleting the image removed its three layers" || fail "layers left: $(cs layers)"
left=$("$snapctl" snapshot ls --state-dir "$state" --format json --namespace containers-storage | json '.__len__()')
[ "$left" = 0 ] && pass "every layer and its device is gone" || fail "$left snapshots are left"
cs shutdown >/dev/null
"$snapctl" pool destroy --state-dir "$state" --force >/dev/null
mounts=$(grep -c " $scratch" /proc/self/mountinfo || true)
loops=$(losetup -a | grep -c "$scratch" || true)
[ "$mounts" = 0 ] && [ "$loops" = 0 ] && pass "no mount or loop device is left" || fail "$mounts mounts and $loops loop devices are left"
[ "$failures" -eq 0 ] && echo "containers-storage CLI: all passed" || { echo "containers-storage CLI: $failures failed"; exit 1; }
