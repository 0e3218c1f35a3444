# Sourced: snapctl serve and a containerd of its own (kata-block as a proxy snapshotter) in a
# scratch directory, and the counted checks of the tests that use them. Needs $snapctl, $work,
# $backend (file or dm-thin) and $pool (the dm-thin pool's name); the state directory is
# $work/kbs. Callers stop them with stop_daemons, or remove everything with remove_work.

# check WHAT COMMAND...: runs the command, counts and prints the outcome.
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# report NAME: the daemons' logs when something failed, the counts; fails when anything did.
report() {
  if [ "$failed" -gt 0 ]; then
    echo "--- snapctl serve log"; tail -30 "$work/kbs.log"; echo "--- containerd log"; tail -30 "$work/containerd.log"
  fi
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# Stops the daemons, unmounts whatever is mounted under $work, destroys the pool, removes $work.
remove_work() {
  stop_daemons
  for m in $(awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
  "$snapctl" pool destroy --force -q --state-dir "$work/kbs" 2>/dev/null
  rm -rf "$work"
}

# snapctl serve on $work/kbs.sock; sets kbs_pid. Safe to call again after the daemon died.
start_kata_block() {
  [ -f "$work/kbs.toml" ] || cat > "$work/kbs.toml" <<TOML
backend = "$backend"
default_size = "${KBS_DEFAULT_SIZE:-2GiB}"
[file]
pool_size = "16GiB"
[dm_thin]
pool_name = "$pool"
data_size = "8GiB"
TOML
  "$snapctl" serve --config "$work/kbs.toml" --state-dir "$work/kbs" --socket "$work/kbs.sock" >> "$work/kbs.log" 2>&1 &
  kbs_pid=$!
  for _ in $(seq 300); do [ -S "$work/kbs.sock" ] && break; sleep 0.05; done
}

# containerd with its own root, state and socket; sets ctr_pid and defines ctr (namespace kbs-test).
start_containerd() {
  cat > "$work/containerd.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[proxy_plugins.kata-block]
  type = "snapshot"
  address = "$work/kbs.sock"
TOML
  containerd --config "$work/containerd.toml" > "$work/containerd.log" 2>&1 &
  ctr_pid=$!
  for _ in $(seq 300); do [ -S "$work/containerd.sock" ] && break; sleep 0.05; done
}
ctr() { command ctr --address "$work/containerd.sock" --namespace kbs-test "$@"; }

# What the backend itself holds, looked at directly (not through our API).
backend_devices() {
  if [ "$backend" = dm-thin ]; then
    local meta
    meta=/dev/$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$(dmsetup table "$pool" | awk '{print $4}')/uevent")
    # The daemon takes the pool's one metadata snapshot for a moment now and then (Usage, Cleanup).
    for _ in $(seq 50); do dmsetup message "$pool" 0 reserve_metadata_snap 2>/dev/null && break; sleep 0.1; done
    thin_ls -m --no-headers -o DEV "$meta" | wc -l
    dmsetup message "$pool" 0 release_metadata_snap
  else
    find "$work/kbs/pool" -name 'dev-*.img' | wc -l
  fi
}
attached_devices() {
  if [ "$backend" = dm-thin ]; then
    dmsetup ls | grep -c "^$pool-thin-" || true
  else
    losetup -a | grep -c "$work/kbs/pool/.*dev-" || true
  fi
}

# The end of a run (callers define check): only the pool's base device left, fsck clean, and
# snapctl serve exits 0 on SIGTERM.
check_pool_settled_and_stop() {
  local remaining rc
  for _ in $(seq 50); do remaining=$(backend_devices); [ "$remaining" -eq 1 ] && break; sleep 0.2; done
  check "only the pool's base device remains (got $remaining)" test "$remaining" -eq 1
  check "snapctl fsck: the pool is consistent" "$snapctl" fsck -q --state-dir "$work/kbs"
  kill -TERM "$kbs_pid"; wait "$kbs_pid"; rc=$?; kbs_pid=
  check "snapctl serve exits 0 on SIGTERM" test "$rc" -eq 0
}

# Stops containerd, then snapctl serve (SIGTERM: it drains and exits 0).
stop_daemons() {
  [ -n "${ctr_pid:-}" ] && kill "$ctr_pid" 2>/dev/null && wait "$ctr_pid" 2>/dev/null
  ctr_pid=
  [ -n "${kbs_pid:-}" ] && kill -TERM "$kbs_pid" 2>/dev/null && wait "$kbs_pid" 2>/dev/null
  kbs_pid=
}
