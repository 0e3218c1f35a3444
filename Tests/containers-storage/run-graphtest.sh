#!/usr/bin/env bash
# containers/storage's own graph-driver suite (drivers/graphtest from Debian's package) against
# kata-block, plus our size test that stands in for graphtest's SetQuota. Root.
#   run-graphtest.sh BIN_DIR            build the test binary (cached) and run it
#   run-graphtest.sh --build-only BIN   build it and print its path
# KBS_DRIVER_OPTIONS="backend=dm-thin" runs it on dm-thin (in the VM, where the binary is built
# beforehand on the host).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build_only=
[ "${1:-}" = "--build-only" ] && { build_only=1; shift; }
bin=$(realpath "${1:?usage: run-graphtest.sh [--build-only] BIN_DIR}")
source "$here/go-env.sh"
binary="$bin/kata-block-graphtest.test"
if [ -z "${KBS_IN_VM:-}" ]; then
  go test -c -o "$binary" kata-block/graphdriver
fi
[ -x "$binary" ] || { echo "run-graphtest.sh: $binary is missing; build it on the host first" >&2; exit 1; }
[ -n "$build_only" ] && { echo "$binary"; exit 0; }
# The driver's home (and so its pool) goes under TMPDIR: a scratch directory of our own.
scratch=$(mktemp -d "${KBS_SCRATCH:-/var/tmp}/kbs-graphtest.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
TMPDIR=$scratch KBS_SNAPCTL="$bin/snapctl" "$binary" -test.count=1 -test.timeout 600s -test.v
