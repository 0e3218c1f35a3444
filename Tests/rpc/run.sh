#!/usr/bin/env bash
# Our gRPC server (Sources/SnapshotterAdapter/RPC) against clients it was not written with:
# Python's grpcio (interop.py: unary, streaming, errors, deadlines, metadata, compression),
# hand-made HTTP/2 and gRPC frames (hostile.py: the malformed-input table), and a graceful drain
# on SIGTERM (drain.py). The store is checked unchanged and consistent. Root (file backend).
#   Tests/rpc/run.sh /path/to/snapctl
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
snapctl=$(realpath "${1:?usage: run.sh /path/to/snapctl}")
work=$(mktemp -d /tmp/kbs-rpc.XXXXXX)
backend=file pool=
# shellcheck source=../containerd/daemons.sh
. "$here/../containerd/daemons.sh"
trap remove_work EXIT
# Debian's interpreter: python3-grpcio and python3-h2 are installed for it, whatever else is on PATH.
py=/usr/bin/python3
export KBS_PYPROTO=$work/pyproto
mkdir -p "$KBS_PYPROTO"
protoc -I "$here/../../proto" -I /usr/include --python_out="$KBS_PYPROTO" \
  containerd/types/mount.proto containerd/services/snapshots/v1/snapshots.proto

# The daemon's config: the usual test pool, and the Prometheus endpoint on a free loopback port.
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/kbs.toml" <<TOML
backend = "file"
default_size = "512MiB"
metrics_address = "127.0.0.1:$port"
[file]
pool_size = "16GiB"
TOML
start_kata_block
check "snapctl serve listens" test -S "$work/kbs.sock"
check "the Prometheus endpoint: histograms, errors and pool gauges move with the calls" "$py" "$here/metrics.py" "$work/kbs.sock" "http://127.0.0.1:$port"
refused_off_loopback() {
  local out rc
  out=$(timeout 10 "$snapctl" serve --state-dir "$work/none" --socket "$work/none.sock" --metrics-address "0.0.0.0:$port" 2>&1); rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q 'loopback only' <<<"$out"
}
check "a metrics address off loopback is refused, saying why" refused_off_loopback

check "Python's grpcio client: unary, streaming, errors, deadlines, metadata" "$py" "$here/interop.py" "$work/kbs.sock"
check "malformed and hostile input: clear answers, the daemon serving, the store unchanged" "$py" "$here/hostile.py" "$work/kbs.sock"
check "snapctl fsck: the pool is consistent" "$snapctl" fsck -q --state-dir "$work/kbs"
if grep -qiE 'fatal error|crash|backtrace' "$work/kbs.log"; then bad "no crash in the daemon's log"; else ok "no crash in the daemon's log"; fi
check "Python's grpcio client: a graceful drain on SIGTERM" "$py" "$here/drain.py" "$work/kbs.sock" "$kbs_pid"
wait "$kbs_pid"; rc=$?; kbs_pid=
check "snapctl serve exits 0 after draining" test "$rc" -eq 0
# The drained Prepare's device is still attached: destroy the pool before remove_work unmounts
# whatever is left under $work (the pool's own XFS among it).
check "snapctl pool destroy detaches everything" "$snapctl" pool destroy --force -q --state-dir "$work/kbs"
check "no loop device of the pool is left" sh -c "! losetup -a | grep -q '$work/'"
report "gRPC server interop and hostile input"
