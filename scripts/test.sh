#!/usr/bin/env bash
# New machine, one command: install what is needed and run every test.
# As root, the file-backend tests run for real (loop devices, mkfs, mounts); they are required in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/check-layers.sh
if [ "$(id -u)" -eq 0 ]; then
  modprobe loop 2>/dev/null || true
  export KBS_ROOT_TESTS=1
  # Whatever happens, the run must leave no loop device, mount or dm device of its own behind.
  baseline=$(mktemp /tmp/kbs-leftovers.XXXXXX)
  scripts/leftovers.sh snapshot "$baseline"
  finish() { local rc=$?; scripts/leftovers.sh compare "$baseline" || rc=1; rm -f "$baseline"; exit "$rc"; }
  trap finish EXIT
else
  echo "test.sh: not root, so the file-backend tests (loop, mkfs, mount) are skipped" >&2
fi
swift build --build-tests
swift test --skip-build
if [ "$(id -u)" -eq 0 ]; then
  bin=$(swift build --show-bin-path)
  echo "== containerd's SnapshotterSuite through the proxy against snapctl serve"
  Tests/containerd/run-suite.sh "$bin/snapctl"
  echo "== our gRPC server against Python's grpcio client, malformed and hostile HTTP/2 input, and a graceful drain"
  Tests/rpc/run.sh "$bin/snapctl"
  echo "== real containerd + runc on kata-block, beside another namespace of the same pool"
  Tests/containerd/run-containerd.sh "$bin/snapctl"
  echo "== the Kata path: a snapshot prepared through containerd handed to a qemu guest as virtio-blk, its process run there, its write seen on the host"
  Tests/kata/run-guest.sh "$bin/snapctl"
  echo "== volumes for Kata: a thin volume described in Kata's mountInfo.json, written and grown by a qemu guest, copied, kept through containerd's GC and a daemon kill"
  Tests/kata/run-volume.sh "$bin/snapctl"
  echo "== space comes back: real containerd importing, running and removing a 150 MB image, rounds of it; the pool file back to a new pool's size"
  Tests/space/run-churn.sh "$bin/snapctl" 4
  echo "== snapctl for operators: --version, completions, progress on a terminal and silence off one, errors naming the remedy"
  Tests/cli/run-cli.sh "$bin/snapctl"
  echo "== containers/storage's graphtest suite against the kata-block driver (file backend)"
  Tests/containers-storage/run-graphtest.sh "$bin"
  echo "== containers/storage's own CLI with the kata-block driver: layers, image, container, mounts, diff"
  Tests/containers-storage/run-cli.sh "$bin"
  echo "== podman (Debian's, rebuilt with the driver) on kata-block: load, run, detached run, diff, commit, skopeo copy, rmi"
  Tests/containers-storage/run-podman.sh "$bin"
  echo "== containerd and podman on one pool at once: each its own namespace, the daemon killed between, each one's GC leaves the other's"
  Tests/containers-storage/run-both.sh "$bin"
  echo "== the Debian package: built, installed on a clean Debian 12 root, the daemon from its unit's ExecStart, containerd running an image on it, removed, purged"
  Tests/package/run-package.sh
  echo "== several processes on one pool: snapctl serve, containerd's client, two workers, one killed 20 times"
  Tests/Integration/multi-process.sh "$bin/snapctl" "$bin/kbs-stress" 60 20
  echo "== dm-thin, in a VM on Debian's kernel (this host's kernel has no device-mapper)"
  scripts/test-vm.sh
fi
