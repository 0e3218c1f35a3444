#!/usr/bin/env bash
# The main job on the embedded default (reflinked image files, no device-mapper):
# create a pool, build a 3-layer chain through real mounts, show each layer and what the layers share.
set -euo pipefail
snapctl=${1:-.build/release/snapctl}
state=$(mktemp -d /tmp/kata-block-demo.XXXXXX)
mnt=$state-mnt
mkdir -p "$mnt"
s() { "$snapctl" "$@" --state-dir "$state"; }
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  "$snapctl" pool destroy --force -q --state-dir "$state" 2>/dev/null || true
  rm -rf "$state" "$mnt"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
# Mounts KEY's block device the way a guest would: the type, device and options snapctl prints.
mount_snapshot() {
  read -r type dev opts < <(s snapshot mounts "$1")
  [ "$opts" = defaults ] && opts=rw
  mount -t "$type" -o "$opts" "$dev" "$mnt"
}

step "create a pool in $state (2 GiB ext4 devices)"
s pool create --pool-size 16GiB --device-size 2GiB

step "layer 1: a base tree"
s snapshot prepare layer-1-active
mount_snapshot layer-1-active
mkdir -p "$mnt/etc" "$mnt/app/lib" "$mnt/var/cache"
echo "kata block storage" > "$mnt/etc/motd"
echo "1.0" > "$mnt/app/VERSION"
head -c 32M /dev/urandom > "$mnt/app/lib/runtime.bin"
echo "stale" > "$mnt/var/cache/old"
umount "$mnt"
s snapshot commit layer-1 layer-1-active

step "layer 2: modify a file, delete a file, replace a directory with a file"
s snapshot prepare layer-2-active layer-1
mount_snapshot layer-2-active
echo "2.0" > "$mnt/app/VERSION"
rm "$mnt/var/cache/old"
rm -r "$mnt/var/cache" && echo "cache is a file now" > "$mnt/var/cache"
umount "$mnt"
s snapshot commit layer-2 layer-2-active

step "layer 3: add a file"
s snapshot prepare layer-3-active layer-2
mount_snapshot layer-3-active
echo "hello from the top layer" > "$mnt/app/hello"
umount "$mnt"
s snapshot commit layer-3 layer-3-active --label org.example/role=top

step "a container's writable snapshot and a read-only view on top"
s snapshot prepare container-rootfs layer-3
s snapshot view inspect-view layer-3

step "snapshot tree"
s snapshot tree

for layer in layer-1 layer-2 layer-3; do
  step "contents of $layer (through a read-only view)"
  s snapshot view "$layer-view" "$layer" >/dev/null
  mount_snapshot "$layer-view"
  (cd "$mnt" && find . | sort | while read -r f; do
     if [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 100 ]; then printf '%-22s %s\n' "$f" "$(cat "$f")"; else printf '%s\n' "$f"; fi
   done)
  umount "$mnt"
  s snapshot rm -q "$layer-view"
done

step "space: bytes and inodes each layer holds of its own"
s snapshot usage

step "shared extents: layer-3 shares layer-1's 32 MiB blob instead of copying it"
s snapshot inspect layer-3
image=$(find "$state/pool" -name "dev-$(s snapshot inspect layer-3 --format json | sed -n 's/.*"deviceID" : \([0-9]*\).*/\1/p').img")
echo "filefrag -v $(basename "$image") (extents flagged 'shared'):"
filefrag -v "$image" | grep -c shared | xargs echo "  shared extents:"

step "pool status"
s pool status
echo
echo "demo finished; the pool is destroyed on exit"
