#!/usr/bin/env bash
# New machine, one command: install what is needed and run every test.
# As root, the file-backend tests run for real (loop devices, mkfs, mounts); they are required in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ "$(id -u)" -eq 0 ]; then
  modprobe loop 2>/dev/null || true
  export KBS_ROOT_TESTS=1
else
  echo "test.sh: not root, so the file-backend tests (loop, mkfs, mount) are skipped" >&2
fi
swift build --build-tests
swift test --skip-build
if [ "$(id -u)" -eq 0 ]; then
  snapctl=$(swift build --show-bin-path)/snapctl
  echo "== containerd's SnapshotterSuite through the proxy against snapctl serve"
  Tests/containerd/run-suite.sh "$snapctl"
  echo "== real containerd + runc on kata-block"
  Tests/containerd/run-containerd.sh "$snapctl"
  echo "== dm-thin, in a VM on Debian's kernel (this host's kernel has no device-mapper)"
  scripts/test-vm.sh
fi
