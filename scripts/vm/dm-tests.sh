#!/usr/bin/env bash
# The dm-thin stage, run inside the VM by scripts/test-vm.sh: the engine suites on dm-thin,
# containerd's SnapshotterSuite against `snapctl serve` on dm-thin, and real containerd + runc on dm-thin.
# Binaries are built on the host beforehand (building under emulation would take far too long).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${KBS_BIN_PATH:?set KBS_BIN_PATH to the build directory holding snapctl and the test bundle}
failed=0
stage() { echo; echo "== [vm] $*"; }
# The VM's own kernel: what the stage makes, it must take down again.
baseline=$(mktemp /tmp/kbs-vm-leftovers.XXXXXX)
scripts/leftovers.sh snapshot "$baseline"
# Runs a command with its output in a log, shows the lines matching $1 (all of it on failure).
quiet() {
  local pattern=$1 log; shift
  log=$(mktemp /tmp/kbs-vm-stage.XXXXXX)
  "$@" > "$log" 2>&1; local rc=$?
  if [ "$rc" -eq 0 ]; then grep -aE "$pattern" "$log"; else grep -av '◇' "$log" | tail -150; fi
  return "$rc"
}

stage "engine suites on dm-thin (graph conformance, bad input, real data, crashes, full pool)"
KBS_DM_TESTS=1 quiet '✔ (Suite|Test run)|✘|skipped' "$bin/KataBlockStoragePackageTests.xctest" --testing-library swift-testing \
  --filter 'StorageCoreTests\.(GraphConformanceTests|BadInputTests|BlockDataTests|CrashTests|ConcurrencyTests|ThinPoolTests|DeferredRemoveTests|HostMountTests|MountDeadlockTests|LayerImportTests|HypervisorPathTests|VolumeTests|PoolSpaceTests)' \
  || failed=1

stage "containerd's SnapshotterSuite through the proxy against snapctl serve on dm-thin"
# One test at a time in the VM, and a bound on the stage: a hang shows as a failure with output.
KBS_SUITE_BACKEND=dm-thin KBS_SUITE_PARALLEL=1 KBS_MANY_CALLS=40 quiet '^\s*--- |^(ok|FAIL|PASS)' timeout -k 10 900 Tests/containerd/run-suite.sh "$bin/snapctl" || failed=1

stage "containers/storage's graphtest suite against the kata-block driver on dm-thin"
KBS_DRIVER_OPTIONS="backend=dm-thin" KBS_SCRATCH=/tmp quiet '^\s*--- |^(ok|FAIL|PASS)' timeout -k 10 900 \
  Tests/containers-storage/run-graphtest.sh "$bin" || failed=1

stage "containers/storage's own CLI with the kata-block driver on dm-thin"
KBS_BACKEND=dm-thin KBS_SCRATCH=/tmp timeout -k 10 600 Tests/containers-storage/run-cli.sh "$bin" || failed=1

stage "real containerd + runc on dm-thin, beside another namespace of the same pool"
KBS_BACKEND=dm-thin Tests/containerd/run-containerd.sh "$bin/snapctl" || failed=1

stage "the Kata path on dm-thin: a snapshot prepared through containerd, its thin device mounted by the guest (this VM), its process run there"
KBS_BACKEND=dm-thin timeout -k 10 600 Tests/kata/run-guest.sh "$bin/snapctl" || failed=1

stage "volumes for Kata on dm-thin: made, described in Kata's mountInfo.json, written by the guest (this VM), grown, copied, kept through containerd's GC and a daemon kill"
KBS_BACKEND=dm-thin timeout -k 10 600 Tests/kata/run-volume.sh "$bin/snapctl" || failed=1

stage "space comes back on dm-thin: containerd importing, running and removing a 150 MB image; the thin-pool's data usage back to a new pool's"
KBS_BACKEND=dm-thin timeout -k 10 900 Tests/space/run-churn.sh "$bin/snapctl" 1 || failed=1

stage "several processes on one dm-thin pool: snapctl serve, containerd's client, two workers, one killed"
KBS_BACKEND=dm-thin timeout -k 10 600 Tests/Integration/multi-process.sh "$bin/snapctl" "$bin/kbs-stress" 40 8 || failed=1

stage "nothing left behind in the VM"
scripts/leftovers.sh compare "$baseline" || failed=1

echo
[ "$failed" -eq 0 ] && echo "vm: dm-thin stage passed" || echo "vm: dm-thin stage FAILED"
exit "$failed"
