#!/usr/bin/env bash
# containerd's SnapshotterSuite (containerd 1.6 from Debian's golang-github-containerd-containerd-dev)
# through containerd's proxy client against `snapctl serve`. Root; offline (GOPATH mode).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
snapctl=$(realpath "${1:?usage: run-suite.sh /path/to/snapctl}")
cd "$here/suite"
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=${GOCACHE:-/var/cache/kata-block/go-build} GOFLAGS=
SNAPCTL=$snapctl go test -count=1 -timeout 600s -v . -args -test.root 2>&1 \
  | grep -vE '^\s+helpers(_unix)?\.go:[0-9]+: (unmount|[-d]rw)' 
