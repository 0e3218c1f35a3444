#!/usr/bin/env bash
# Builds containers/storage's own CLI (cmd/containers-storage from Debian's package) with the
# kata-block driver linked in, as BIN_DIR/containers-storage-kata, and prints its path. The CLI
# imports an internal/ package, so the two are copied from the Debian package into a GOPATH in
# the build directory (never into the repository), that one import rewritten, and one file added
# with the driver's blank import.
#   build-cli.sh BIN_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:?usage: build-cli.sh BIN_DIR}")
source "$here/go-env.sh"
upstream=/usr/share/gocode/src/github.com/containers/storage
work="$bin/containers-storage-cli"
rm -rf "$work"
mkdir -p "$work/src/kbs-cli/containers-storage" "$work/src/kbs-cli/opts"
cp "$upstream"/cmd/containers-storage/*.go "$work/src/kbs-cli/containers-storage/"
rm -f "$work"/src/kbs-cli/containers-storage/*_test.go
cp "$upstream"/internal/opts/*.go "$work/src/kbs-cli/opts/"
rm -f "$work"/src/kbs-cli/opts/*_test.go
sed -i 's#"github.com/containers/storage/internal/opts"#"kbs-cli/opts"#' "$work"/src/kbs-cli/containers-storage/*.go
cat > "$work/src/kbs-cli/containers-storage/kata_block.go" <<'GO'
package main

import _ "kata-block/graphdriver"
GO
GOPATH="$work:$GOPATH" go build -o "$bin/containers-storage-kata" kbs-cli/containers-storage
echo "$bin/containers-storage-kata"
