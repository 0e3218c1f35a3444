#!/usr/bin/env bash
# Builds Debian's skopeo 1.9.3 (source package skopeo, built against Debian's Go libraries as its
# own package is) with the kata-block graph driver: one added file with the driver's blank import
# in cmd/skopeo, then `go build` in GOPATH mode (~40 s). Cached by the driver's sources; prints
# the binary's path. With it, `skopeo copy ... containers-storage:[kata-block@GRAPHROOT+RUNROOT]IMAGE`
# stores what it pulls as kata-block layers.
#   build-skopeo.sh BIN_DIR        (BIN_DIR holds libkata-block-driver.so; the binary finds it there)
# Needs the source package's deb-src entry and podman's build dependencies (scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:?usage: build-skopeo.sh BIN_DIR}")
source "$repo/Tests/containers-storage/go-env.sh"
source "$repo/contrib/rebuild-env.sh"
cache=${KBS_SKOPEO_CACHE:-/var/cache/kata-block/skopeo}
key=$(cache_key "$0")
binary="$cache/$key/skopeo"
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi

src=$(debian_source skopeo "$cache")
work="$cache/$key/gopath"
rm -rf "$cache/$key"
mkdir -p "$work/src/github.com/containers"
cp -a "$src" "$work/src/github.com/containers/skopeo"
cat > "$work/src/github.com/containers/skopeo/cmd/skopeo/kata_block.go" <<'GO'
package main

// The kata-block graph driver (Kata Block Storage), for containers-storage: destinations.
import _ "kata-block/graphdriver"
GO
GOPATH="$work:$GOPATH" go build -tags containers_image_openpgp -o "$binary" github.com/containers/skopeo/cmd/skopeo >&2 || {
  echo "build-skopeo.sh: go build failed" >&2; exit 1; }
rm -rf "$work"
echo "$binary"
