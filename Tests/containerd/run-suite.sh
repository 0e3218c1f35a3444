#!/usr/bin/env bash
# containerd's SnapshotterSuite (containerd 1.6 from Debian's golang-github-containerd-containerd-dev)
# through containerd's proxy client against `snapctl serve`. Root; offline (GOPATH mode).
#   run-suite.sh /path/to/snapctl            build the suite (cached) and run it
#   run-suite.sh --build-only                build the suite binary and print its path
# KBS_SUITE_BACKEND=dm-thin runs it on dm-thin (in the VM, where the binary is built beforehand:
# compiling under emulation would take many minutes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary="$here/../../.build/containerd-suite.test"
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=${GOCACHE:-/var/cache/kata-block/go-build} GOFLAGS=
build() {
  if [ -z "${KBS_IN_VM:-}" ]; then
    (cd "$here/suite" && go test -c -o "$binary" .)
  fi
  [ -x "$binary" ] || { echo "run-suite.sh: $binary is missing; run run-suite.sh --build-only on the host first" >&2; exit 1; }
}
if [ "${1:-}" = "--build-only" ]; then
  build; echo "$binary"; exit 0
fi
snapctl=$(realpath "${1:?usage: run-suite.sh /path/to/snapctl}")
build
cd "$here/suite"
SNAPCTL=$snapctl "$binary" -test.count=1 -test.timeout 800s -test.parallel "${KBS_SUITE_PARALLEL:-$(nproc)}" -test.v -test.root 2>&1 \
  | grep -vE '^\s+helpers(_unix)?\.go:[0-9]+: (unmount|[-d]rw)'
