#!/usr/bin/env bash
# containers/storage benchmark: the kata-block graph driver side by side with containers/storage's
# own overlay and vfs drivers, on this machine in one run. Two levels:
#   1. podman (Debian's 4.3.1, rebuilt with the driver; one binary for all three drivers): load an
#      image of 1,000 files / 64 MiB and one of a real tree (/usr/lib/python3.11), create + start
#      a container to its first output, rm.
#   2. drivebench (Go, in-process, the driver interface containers/storage calls): ApplyDiff MiB/s
#      of the same layer tars, a container layer's Create, Get, Put, Get + Put and Remove.
# Root. Prints numbers, asserts nothing.
#   Benchmarks/containers-storage/run.sh [ITERATIONS] [podman|driver]
#   (default: both parts, 5 podman runs, 10 x ITERATIONS containers in drivebench)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-5}
parts=${2:-podman driver}
n=$((runs * 10))
drivers=(kata-block overlay vfs)

swift build -c release --product snapctl --package-path "$repo" >&2
swift build -c release --product kata-block-driver --package-path "$repo" >&2
bin=$(swift build -c release --show-bin-path --package-path "$repo")
scratch=$(mktemp -d /var/tmp/kbs-csbench.XXXXXX)
state=$scratch/kata-block-state
source "$repo/Tests/containers-storage/podman-env.sh"
cleanup() {
  set +e
  for d in "${drivers[@]}"; do
    Pd "$d" rm -af >/dev/null 2>&1
    Pd "$d" rmi -af >/dev/null 2>&1
    Pd "$d" system reset -f >/dev/null 2>&1
  done
  for m in $(awk -v s="$scratch" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
  for s in "$state" "$scratch"/drivebench-kata-block/kata-block; do
    [ -d "$s" ] && "$bin/snapctl" pool destroy --force -q --state-dir "$s"
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

# podman on driver $1, each driver with its own graph root and run root.
Pd() {
  local driver=$1; shift
  local extra=()
  [ "$driver" = kata-block ] && extra=(--storage-opt "kata-block.state_dir=$state"
    --storage-opt kata-block.default_size=2GiB --storage-opt kata-block.file.pool_size=32GiB)
  "$podman" --root "$scratch/$driver/graph" --runroot "$scratch/$driver/run" --storage-driver "$driver" "${extra[@]}" "$@"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.4f\n", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "building the layer tars and images" >&2
python3 - "$scratch/files.tar" <<'PY'
import io, os, sys, tarfile
# 1,000 files of 64 KiB (64 MiB of data) in 10 directories, contents that do not compress away.
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
    for d in range(10):
        info = tarfile.TarInfo(f"files/d{d}"); info.type = tarfile.DIRTYPE; info.mode = 0o755
        tar.addfile(info)
        for f in range(100):
            data = os.urandom(64 << 10)
            info = tarfile.TarInfo(f"files/d{d}/f{f}"); info.size = len(data); info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
PY
python_tree=$(ls -d /usr/lib/python3.[0-9]* | head -1)
tar -C / -cf "$scratch/python.tar" "${python_tree#/}"
python3 "$repo/Tests/containerd/make-image.py" "$scratch/files-image.tar" kbs.local/files:latest "$scratch/files.tar"
python3 "$repo/Tests/containerd/make-image.py" "$scratch/python-image.tar" kbs.local/python:latest "$scratch/python.tar"
files_tar_mib=$(( $(stat -c %s "$scratch/files.tar") >> 20 ))
python_tar_mib=$(( $(stat -c %s "$scratch/python.tar") >> 20 ))
python_files=$(tar -tf "$scratch/python.tar" | wc -l)

if [[ $parts == *podman* ]]; then
results=$scratch/results.tsv
for round in $(seq "$runs"); do
  # The drivers' order turns each round, so none always runs on a cold or warm cache.
  order=("${drivers[@]:$(( round % 3 ))}" "${drivers[@]:0:$(( round % 3 ))}")
  for d in "${order[@]}"; do
    echo "round $round/$runs: podman on $d" >&2
    for image in files python; do
      sync; echo 3 > /proc/sys/vm/drop_caches
      t=$(now); Pd "$d" load -q -i "$scratch/$image-image.tar" >/dev/null; printf '%s\tpodman load (%s)\t%s\n' "$d" "$image" "$(since "$t")" >> "$results"
    done
    t=$(now)
    id=$(Pd "$d" create kbs.local/files:latest /bin/echo first-output)
    out=$(Pd "$d" start -a "$id")
    printf '%s\tpodman create + start to first output\t%s\n' "$d" "$(since "$t")" >> "$results"
    [ "$out" = first-output ] || { echo "run.sh: $d: the container printed '$out'" >&2; exit 1; }
    t=$(now); Pd "$d" rm "$id" >/dev/null; printf '%s\tpodman rm\t%s\n' "$d" "$(since "$t")" >> "$results"
    t=$(now); Pd "$d" rmi -a -f >/dev/null; printf '%s\tpodman rmi (both images)\t%s\n' "$d" "$(since "$t")" >> "$results"
  done
done

echo
echo "podman 4.3.1, median of $runs (seconds; layers: $files_tar_mib MiB in 1,000 files, and $python_tree: $python_files entries, $python_tar_mib MiB)"
printf '%-40s %12s %12s %12s %14s %14s\n' operation kata-block overlay vfs "kata/overlay" "kata/vfs"
for op in "podman load (files)" "podman load (python)" "podman create + start to first output" "podman rm" "podman rmi (both images)"; do
  k=$(awk -F'\t' -v o="$op" '$1 == "kata-block" && $2 == o {print $3}' "$results" | median)
  o=$(awk -F'\t' -v o="$op" '$1 == "overlay" && $2 == o {print $3}' "$results" | median)
  v=$(awk -F'\t' -v o="$op" '$1 == "vfs" && $2 == o {print $3}' "$results" | median)
  printf '%-40s %12.3f %12.3f %12.3f %13.2fx %13.2fx\n' "$op" "$k" "$o" "$v" "$(awk -v a="$k" -v b="$o" 'BEGIN { print a / b }')" "$(awk -v a="$k" -v b="$v" 'BEGIN { print a / b }')"
done
fi
[[ $parts == *driver* ]] || exit 0

echo "building drivebench" >&2
source "$repo/Tests/containers-storage/go-env.sh"
(cd "$here/drivebench" && go build -o "$scratch/drivebench" .)
driver_results=$scratch/driver.tsv
for d in "${drivers[@]}"; do
  echo "drivebench on $d" >&2
  opts=()
  [ "$d" = kata-block ] && opts=(-o default_size=2GiB -o file.pool_size=32GiB)
  sync; echo 3 > /proc/sys/vm/drop_caches
  "$scratch/drivebench" -driver "$d" -home "$scratch/drivebench-$d" -n "$n" -repeat 3 "${opts[@]}" \
    "$scratch/files.tar" "$scratch/python.tar" >> "$driver_results"
done
echo
echo "the driver interface in-process (drivebench; ApplyDiff: median of 3, latencies over $n containers)"
printf '%-34s %12s %12s %12s %14s %8s\n' measurement kata-block overlay vfs "kata/overlay" unit
awk -F'\t' '{ if (!($2 in seen)) { order[++k] = $2; seen[$2] = 1; unit[$2] = $4 }; v[$1, $2] = $3 }
  END { for (i = 1; i <= k; i++) { m = order[i]
    printf "%-34s %12.2f %12.2f %12.2f %13.2fx %8s\n", m, v["kata-block", m], v["overlay", m], v["vfs", m], v["kata-block", m] / v["overlay", m], unit[m] } }' "$driver_results"
