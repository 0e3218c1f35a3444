#!/usr/bin/env bash
# The dm-thin stage: boots Debian's kernel in qemu (this host's kernel has no device-mapper) and
# runs scripts/vm/dm-tests.sh there on binaries built here. Root. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/vm/install.sh
swift build --build-tests
bin=$(swift build --show-bin-path)
Tests/containerd/run-suite.sh --build-only >/dev/null
Tests/Integration/multi-process.sh --build-only >/dev/null
Tests/containers-storage/run-graphtest.sh --build-only "$bin" >/dev/null
Tests/containers-storage/build-cli.sh "$bin" >/dev/null
# The VM sees the host root read-only; the repository (and so .build) is shared writable.
KBS_BIN_PATH=$bin scripts/vm/run.sh --timeout "${KBS_VM_TIMEOUT:-2700}" -- scripts/vm/dm-tests.sh
