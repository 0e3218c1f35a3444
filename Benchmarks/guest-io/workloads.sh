#!/usr/bin/env bash
# Runs inside the benchmark's guest (Benchmarks/guest-io/run.sh boots it): mounts each
# presentation of the same rootfs tree, then times every workload on every presentation, caches
# dropped before each, REPS rounds with the presentations' order turning each round. Prints one
# line per run: GIO <TAB> presentation <TAB> workload <TAB> seconds.
#   workloads.sh REPS TREE_BYTES NAME:blk:DEVICE:OPTIONS|NAME:9p:TAG:OPTIONS ...
# (TREE_BYTES: the total size of the tree's regular files, to check every read came back whole.)
set -euo pipefail
reps=$1 tree_bytes=$2; shift 2
names=()
for spec in "$@"; do
  IFS=: read -r name kind source options <<<"$spec"
  mkdir -p "/tmp/gio/$name"
  if [ "$kind" = 9p ]; then
    mount -t 9p -o "trans=virtio,version=9p2000.L,$options" "$source" "/tmp/gio/$name"
  else
    mount -t ext4 ${options:+-o "$options"} "$source" "/tmp/gio/$name"
  fi
  names+=("$name")
done
echo "guest: $(grep -c ' /tmp/gio/' /proc/mounts) presentations mounted; $(find "/tmp/gio/${names[0]}" | wc -l) entries each"

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
# Python does the syscall-bound loops itself (its start-up is not what is measured).
creates='import os, sys, time
d = sys.argv[1]; os.makedirs(d, exist_ok=True); data = b"x" * 4096
t = time.perf_counter()
for i in range(1000):
    fd = os.open(f"{d}/f{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.write(fd, data); os.fsync(fd); os.close(fd)
print(time.perf_counter() - t)'
deletes='import os, sys, time
d = sys.argv[1]
t = time.perf_counter()
for i in range(1000): os.unlink(f"{d}/f{i}")
print(time.perf_counter() - t)
os.rmdir(d)'

workload() {  # workload NAME DIR: prints the seconds it took
  local dir=$2 t
  case $1 in
    stat) t=$(now); find "$dir" -ls >/dev/null ;;
    du) t=$(now); du -s "$dir" >/dev/null ;;
    read-tree)
      # Every regular file read to its end with cat (over 9p, tar reported most files "shrank"
      # and padded them without reading). The bytes are counted: a read that comes back short
      # is a wrong answer, not a fast one.
      t=$(now); got=$(find "$dir" -type f ! -path '*/.gio-files/*' -exec cat {} + | wc -c)
      [ "$got" -eq "$tree_bytes" ] || printf 'GIO-SHORT\t%s\t%s\n' "${dir##*/}" "$((tree_bytes - got))" >&2 ;;
    create-1000-fsync) python3 -c "$creates" "$dir/.gio-files"; return ;;
    delete-1000) python3 -c "$deletes" "$dir/.gio-files"; return ;;
    read-100MiB) t=$(now); dd if="$dir/big.bin" of=/dev/null bs=1M status=none ;;
    exec-100) t=$(now); for _ in $(seq 100); do "$dir/bin/busybox" true; done ;;
    ls-lR) t=$(now); ls -lR "$dir" >/dev/null ;;
  esac
  awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.4f\n", b - a }'
}

count=${#names[@]}
for round in $(seq "$reps"); do
  for i in $(seq 0 $((count - 1))); do
    name=${names[$(( (i + round) % count ))]}
    for w in stat du read-tree create-1000-fsync delete-1000 read-100MiB exec-100 ls-lR; do
      drop
      printf 'GIO\t%s\t%s\t%s\n' "$name" "$w" "$(workload "$w" "/tmp/gio/$name")"
    done
  done
  echo "guest: round $round/$reps done" >&2
done
for name in "${names[@]}"; do umount "/tmp/gio/$name"; done
