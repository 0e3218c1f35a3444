#!/usr/bin/env bash
# Runs inside the VM (see run.sh): kata-block's daemon on dm-thin and containerd 1.6's devmapper
# snapshotter (served through contrib/snapshotservice) on equal, freshly made thin-pools, both
# driven by containerd's proxy client. Prints numbers; asserts nothing.
set -euo pipefail
n=${1:-20}
clients_list=${KBS_BENCH_CLIENTS:-1 4}
bench=${KBS_SNAPBENCH:?} snapctl=${KBS_SNAPCTL:?}
work=$(mktemp -d /tmp/kbs-dmbench.XXXXXX)
data_size=$((16 << 30)) block_sectors=128
meta_size=$(( 48 * data_size / (block_sectors * 512) )); [ $meta_size -lt $((2 << 20)) ] && meta_size=$((2 << 20))
export SNAPBENCH_WALK=${SNAPBENCH_WALK:-200} SNAPBENCH_LAYERS=${SNAPBENCH_LAYERS:-4}

cleanup() {
  set +e
  pkill -TERM -f "$work/" 2>/dev/null; sleep 1
  for m in $(awk '$5 ~ "^/tmp/" {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
  for d in $(dmsetup ls | awk '{print $1}' | grep -E '^(kbs-bench|cd-bench)' | sort -r); do dmsetup remove --force "$d"; done
  losetup -D; rm -rf "$work"
}
trap cleanup EXIT
wait_socket() { for _ in $(seq 6000); do [ -S "$1" ] && return 0; sleep 0.05; done; echo "no socket $1" >&2; return 1; }

# containerd's devmapper needs a thin-pool made beforehand; ours is made the same way by snapctl.
make_pool() {  # make_pool NAME
  truncate -s $data_size "$work/$1.data"; truncate -s $meta_size "$work/$1.meta"
  local d m; m=$(losetup -f --show "$work/$1.meta"); d=$(losetup -f --show "$work/$1.data")
  dmsetup create "$1" --table "0 $((data_size / 512)) thin-pool $m $d $block_sectors $((data_size / 65536 / 10)) 1 error_if_no_space"
}

results=$work/results.tsv
for clients in $clients_list; do
  tag=c$clients
  echo "running kata-block (dm-thin) with $clients client(s), $n iterations" >&2
  cat > "$work/kbs-$tag.toml" <<TOML
backend = "dm-thin"
default_size = "1GiB"
log_level = "warning"
[dm_thin]
pool_name = "kbs-bench-$tag"
data_size = "16GiB"
block_size = "64KiB"
TOML
  sock=$work/kbs-$tag.sock
  "$snapctl" serve --config "$work/kbs-$tag.toml" --state-dir "$work/kbs-$tag" --socket "$sock" 2>"$work/kbs-$tag.log" &
  wait_socket "$sock"
  "$bench" run kata-block "$sock" "$clients" "$n" >> "$results"
  kill -TERM $!; wait $! || true
  "$snapctl" pool destroy --force -q --state-dir "$work/kbs-$tag"

  echo "running containerd devmapper with $clients client(s), $n iterations" >&2
  make_pool "cd-bench-$tag"
  cat > "$work/cd-$tag.toml" <<TOML
root_path = "$work/cd-$tag"
pool_name = "cd-bench-$tag"
base_image_size = "1GB"
fs_type = "ext4"
TOML
  sock=$work/cd-$tag.sock
  "$bench" serve devmapper "$work/cd-$tag" "$sock" "$work/cd-$tag.toml" 2>"$work/cd-$tag.log" &
  wait_socket "$sock"
  "$bench" run devmapper "$sock" "$clients" "$n" >> "$results"
  kill -TERM $!; wait $! || true
done

echo
echo "dm-thin under qemu TCG: containerd's proxy client, $n iterations (throughput, median latency in ms)"
awk -F'\t' '
  { key = $3 "\t" $2; if (!(key in seen)) { order[++k] = key; seen[key] = 1 }; cell[key, $1] = $4 " (" $5 ")"; raw[key, $1] = $4 + 0 }
  END {
    printf "%-32s %-8s %-22s %-22s %s\n", "operation", "clients", "kata-block", "containerd devmapper", "ratio"
    for (i = 1; i <= k; i++) { split(order[i], p, "\t"); r = raw[order[i], "devmapper"]
      printf "%-32s %-8s %-22s %-22s %s\n", p[1], p[2], cell[order[i], "kata-block"], cell[order[i], "devmapper"], (r > 0 ? sprintf("%.1fx", raw[order[i], "kata-block"] / r) : "-") }
  }' "$results"
