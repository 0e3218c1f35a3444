#!/usr/bin/env bash
# dm-thin benchmark: kata-block vs containerd 1.6's devmapper snapshotter, side by side in the
# same qemu TCG VM on equal thin-pools (this host's kernel has no device-mapper). Root.
# Usage: Benchmarks/devmapper/run.sh [ITERATIONS]   (prints numbers, asserts nothing)
# Numbers are emulated (TCG runs code 20-40x slower than the host); compare the columns, not
# the absolute values with the host benchmark.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
swift build -c release --product snapctl --package-path "$repo" >&2
(cd "$repo/Benchmarks/containerd/snapbench-go" && GO111MODULE=off GOPATH=/usr/share/gocode go build -o "$repo/.build/snapbench-go" .)
KBS_SNAPCTL=$repo/.build/release/snapctl KBS_SNAPBENCH=$repo/.build/snapbench-go \
  "$repo/scripts/vm/run.sh" --timeout "${KBS_VM_TIMEOUT:-5400}" -- "$here/in-vm.sh" "${1:-20}"
