#!/usr/bin/env bash
# Guest I/O: one qemu TCG guest, the same container rootfs (/usr/lib/python3.11, busybox and a
# 100 MiB file) presented to it seven ways at once, timed on the same workloads:
#   ours         our writable snapshot's block device (file backend: the loop device the engine
#                attached, direct I/O) as a virtio-blk disk, as Kata hot-plugs it
#   raw          a plain raw ext4 image file of the same tree, loop-attached with direct I/O as
#                the engine attaches its own, as a virtio-blk disk (the reference)
#   raw-cached   a copy of that image loop-attached without direct I/O (losetup's default): its
#                reads are served from the host's page cache once read, which the guest's cache
#                drops do not empty
#   9p-mmap      the tree as a host directory over virtio-9p as Kata configures it (msize=8192,
#                cache=mmap), and with cache=none (9p-none) and cache=loose (9p-loose)
#   overlay-9p   an overlayfs mount of the tree (what Kata shares when the host stores images in
#                overlayfs) over 9p with Kata's settings
# Workloads (guest caches dropped before each): stat every file (find -ls), du, read every file
# (tar | dd), 1,000 4 KiB creates with fsync, 1,000 deletes, a 100 MiB sequential read, 100 process
# starts of a binary from the rootfs, ls -lR. Median of REPS rounds, order turning each round.
# virtio-fs (Kata's default) is not in Debian 12 (no virtiofsd package), so it has no column.
# Root. Prints numbers, asserts nothing.
#   Benchmarks/guest-io/run.sh [REPS]     (default 5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
reps=${1:-5}
swift build -c release --product snapctl --package-path "$repo" >&2
snapctl=$repo/.build/release/snapctl
work=$(mktemp -d /var/tmp/kbs-guest-io.XXXXXX)
s() { "$snapctl" "$@" --state-dir "$work/kbs"; }
cleanup() {
  set +e
  mountpoint -q "$work/merged" && umount "$work/merged"
  [ -n "${raw:-}" ] && losetup -d "$raw"
  [ -n "${raw_cached:-}" ] && losetup -d "$raw_cached"
  "$snapctl" pool destroy --force -q --state-dir "$work/kbs" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "building the rootfs tree" >&2
python_tree=$(ls -d /usr/lib/python3.[0-9]* | head -1)
mkdir -p "$work/tree/bin" "$work/tree/usr/lib" "$work/upper" "$work/overlay-work" "$work/merged"
cp -a "$python_tree" "$work/tree/usr/lib/"
cp /bin/busybox "$work/tree/bin/busybox"
head -c 100M /dev/urandom > "$work/tree/big.bin"
tar -C "$work/tree" -cf "$work/tree.tar" .
entries=$(find "$work/tree" | wc -l)
tree_bytes=$(find "$work/tree" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
# overlayfs's lower layer is a copy, so the 9p runs' creates in the tree never touch it.
cp -a "$work/tree" "$work/lower"
mount -t overlay overlay -o "lowerdir=$work/lower,upperdir=$work/upper,workdir=$work/overlay-work" "$work/merged"

echo "our snapshot: the tree imported as a layer, a writable snapshot on it" >&2
s pool create -q --pool-size 16GiB --device-size 2GiB
s layer import -q rootfs-layer "$work/tree.tar"
read -r type device options <<<"$(s snapshot prepare gio-rootfs rootfs-layer)"
[ "$options" = defaults ] && options=
[ "$type" = ext4 ] || { echo "run.sh: the snapshot's filesystem is $type; this benchmark mounts ext4" >&2; exit 1; }
echo "the reference: a raw ext4 image of the same tree, the same size" >&2
truncate -s 2G "$work/raw.img"
mkfs.ext4 -q -d "$work/tree" "$work/raw.img"
# Loop-attached like ours (direct I/O: no host page cache between the guest and the file), and a
# copy the way losetup attaches by default (through the host's page cache).
cp --sparse=always "$work/raw.img" "$work/raw-cached.img"
raw=$(losetup -f --show --direct-io=on "$work/raw.img")
raw_cached=$(losetup -f --show "$work/raw-cached.img")
sync; echo 3 > /proc/sys/vm/drop_caches

results=$work/results.tsv
echo "booting the guest: $reps rounds of 8 workloads on 7 presentations (under TCG this takes minutes)" >&2
"$repo/scripts/vm/run.sh" --timeout 7200 --memory 2048 --disk "$device" --disk "$raw" --disk "$raw_cached" \
  --share "tmmap=$work/tree" --share "tnone=$work/tree" --share "tloose=$work/tree" --share "ommap=$work/merged" \
  -- bash "$here/workloads.sh" "$reps" "$tree_bytes" "ours:blk:/dev/vda:$options" "raw:blk:/dev/vdb:" "raw-cached:blk:/dev/vdc:" \
     "9p-mmap:9p:tmmap:msize=8192,cache=mmap" "9p-none:9p:tnone:msize=8192,cache=none" \
     "9p-loose:9p:tloose:msize=8192,cache=loose" "overlay-9p:9p:ommap:msize=8192,cache=mmap" |
  tee "$work/guest.log" | grep --line-buffered '^guest:' >&2 || true
grep -a '^GIO' "$work/guest.log" | cut -f2- > "$results"
[ -s "$results" ] || { echo "run.sh: the guest reported nothing; its output:" >&2; tail -40 "$work/guest.log" >&2; exit 1; }

echo
echo "guest I/O, one TCG guest, median of $reps (seconds; ratio: the presentation's time / ours; rootfs: $entries entries)"
awk -F'\t' '
  { key = $1 SUBSEP $2; n[key]++; v[key, n[key]] = $3; if (!($2 in seenw)) { w[++nw] = $2; seenw[$2] = 1 } }
  function median(key,   i, j, t, c) {
    c = n[key]; for (i = 1; i <= c; i++) a[i] = v[key, i]
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((c + 1) / 2)]
  }
  END {
    np = split("ours raw raw-cached 9p-mmap 9p-none 9p-loose overlay-9p", p, " ")
    printf "%-19s", "workload"; for (k = 1; k <= np; k++) printf " %17s", p[k]; printf "\n"
    for (i = 1; i <= nw; i++) {
      printf "%-19s", w[i]; base = median("ours" SUBSEP w[i])
      for (k = 1; k <= np; k++) { m = median(p[k] SUBSEP w[i]); printf " %9.3f (%5.2fx)", m, (base > 0 ? m / base : 0) }
      printf "\n"
    }
  }' "$results"
grep -a '^GIO-SHORT' "$work/guest.log" | awk -F'\t' '{ n[$2] += $3; r[$2]++ }
  END { for (p in n) printf "%s: read-tree got %d bytes fewer than the tree holds (%d runs); its time is not a full read\n", p, n[p], r[p] }' || true
s snapshot rm -q gio-rootfs
