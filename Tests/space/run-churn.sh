#!/usr/bin/env bash
# Space comes back under real containerd churn: containerd imports a 3-layer image with ~150 MB of
# incompressible layer data through kata-block, runs a container that writes and deletes files in
# its rootfs, then removes the container and the image (GC) - several rounds. The pool must then
# occupy what a new pool does, within 10%: on the file backend the host bytes of the XFS pool
# file, on dm-thin the thin-pool's used data blocks and the host bytes of its data file (deleted
# devices' blocks discarded down to it). Prints the numbers. Root.
# Usage: run-churn.sh /path/to/snapctl [ROUNDS]   (KBS_BACKEND=dm-thin in the VM)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
snapctl=$(realpath "${1:?usage: run-churn.sh /path/to/snapctl [ROUNDS]}")
rounds=${2:-4}
work=$(mktemp -d /tmp/kbs-churn.XXXXXX)
backend=${KBS_BACKEND:-file}
pool=kbs-churn-$$
source "$here/../containerd/daemons.sh"
trap remove_work EXIT

# Bytes the pool occupies where it lives, looked at directly (not through our API): the pool
# file's allocated blocks on the host, or the thin-pool's used data blocks.
occupied() {
  if [ "$backend" = dm-thin ]; then
    local sectors used
    sectors=$(dmsetup table "$pool" | awk '{print $6}')
    used=$(dmsetup status "$pool" | awk '{split($6, d, "/"); print d[1]}')
    echo $(( used * sectors * 512 ))
  else
    stat -c '%b %B' "$work/kbs/pool/pool.xfs" | awk '{print $1 * $2}'
  fi
}
# The host bytes of the thin-pool's data file (a loop file: discards passed down punch holes).
data_file() { stat -c '%b %B' "$work/kbs/pool/data" | awk '{print $1 * $2}'; }
up() { ctr version >/dev/null; }
mib() { echo "$(( $1 >> 20 )) MiB"; }

# Two layers of random bytes (incompressible) on top of the usual three.
python3 - "$work" <<'PY'
import io, os, sys, tarfile
for n, size in ((4, 80), (5, 70)):
    with tarfile.open(f"{sys.argv[1]}/extra-{n}.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/blob-{n}")
        info.size = size << 20
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
PY
python3 "$here/../containerd/make-image.py" "$work/image.tar" kbs.local/churn:latest "$work/extra-4.tar" "$work/extra-5.tar"

start_kata_block
start_containerd
check "the daemons are up" up
fresh=$(occupied)
peak=$fresh
[ "$backend" = dm-thin ] && { fresh_file=$(data_file); peak_file=$fresh_file; }
for round in $(seq "$rounds"); do
  ctr image import --snapshotter kata-block "$work/image.tar" >/dev/null || bad "round $round: import"
  out=$(ctr run --rm --snapshotter kata-block kbs.local/churn:latest "churn-$round" /bin/sh -c \
    'cat /data/blob-4 /data/blob-5 > /tmp/copy && rm /data/blob-4 && wc -c < /tmp/copy' 2>&1)
  [ "$(tr -d ' \n' <<<"$out")" = $(( 150 << 20 )) ] || bad "round $round: the container copied its layers' data (got: $out)"
  now=$(occupied); [ "$now" -gt "$peak" ] && peak=$now
  if [ "$backend" = dm-thin ]; then now=$(data_file); [ "$now" -gt "$peak_file" ] && peak_file=$now; fi
  ctr image rm --sync kbs.local/churn:latest >/dev/null || bad "round $round: image rm"
  for _ in $(seq 100); do [ "$(ctr snapshots --snapshotter kata-block ls | tail -n +2 | wc -l)" -eq 0 ] && break; sleep 0.1; done
done
check "containerd's snapshots are all gone" test "$(ctr snapshots --snapshotter kata-block ls | tail -n +2 | wc -l)" -eq 0
check "the pool took the images' space while they were there ($(mib "$fresh") -> $(mib "$peak"))" test "$peak" -gt $(( fresh + (150 << 20) ))
# The daemon hands freed space back in its upkeep passes: give it a few seconds.
limit=$(( fresh + fresh / 10 ))
for _ in $(seq 50); do after=$(occupied); [ "$after" -le "$limit" ] && break; sleep 0.2; done
echo "     | $backend pool: new $(mib "$fresh"), with an image and a container $(mib "$peak"), after $rounds rounds of churn $(mib "$after")"
check "after the churn the pool occupies what a new one does, within 10% ($(mib "$after") <= $(mib "$limit"))" test "$after" -le "$limit"
if [ "$backend" = dm-thin ]; then
  # A thin delete frees blocks in the pool only; the daemon discards a device before deleting it,
  # and the pool passes that down to its data file.
  file_limit=$(( fresh_file + fresh_file / 10 ))
  after_file=$(data_file)
  echo "     | the thin-pool's data file on the host: new $(( fresh_file >> 10 )) KiB, with the image $(mib "$peak_file"), after $(( after_file >> 10 )) KiB"
  check "the data file holds what a new pool's does, within 10% ($(( after_file >> 10 )) KiB <= $(( file_limit >> 10 )) KiB)" test "$after_file" -le "$file_limit"
fi
check_pool_settled_and_stop
report "space under containerd churn ($backend)"
