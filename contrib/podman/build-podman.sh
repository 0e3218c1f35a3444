#!/usr/bin/env bash
# Rebuilds Debian's podman 4.3.1 (source package libpod) with the kata-block graph driver: our
# quilt patch (kata-block-driver.patch: one blank import) added to debian/patches, the driver's
# Go package vendored into the source tree, then dpkg-buildpackage. The podman binary is cached
# by the driver's sources and the patch; a rebuild takes ~3 minutes. Prints the binary's path.
#   build-podman.sh BIN_DIR        (BIN_DIR holds libkata-block-driver.so; the binary finds it there)
# Needs the source package and its build dependencies (scripts/install-deps.sh installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:?usage: build-podman.sh BIN_DIR}")
source "$repo/contrib/rebuild-env.sh"
cache=${KBS_PODMAN_CACHE:-/var/cache/kata-block/podman}
key=$(cache_key "$here/kata-block-driver.patch")
binary="$cache/$key/podman"
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi

src=$(debian_source libpod "$cache")
work="$cache/$key/build"
rm -rf "$cache/$key"
mkdir -p "$work"
cp -a "$src" "$work/libpod"
tree="$work/libpod"
cp "$here/kata-block-driver.patch" "$tree/debian/patches/"
echo kata-block-driver.patch >> "$tree/debian/patches/series"
vendored="$tree/vendor/kata-block/graphdriver"
mkdir -p "$vendored"
cp "${driver[@]}" "$vendored/"
# Where the header and library are, for cgo inside dpkg-buildpackage's own environment.
cat > "$vendored/cgo_paths.go" <<GO
package graphdriver

// #cgo LDFLAGS: -L$bin -Wl,-rpath,$bin
import "C"
GO
(cd "$tree" && QUILT_PATCHES=debian/patches DEB_BUILD_OPTIONS="nocheck" dpkg-buildpackage -b -uc -us >"$work/build.log" 2>&1) || {
  tail -40 "$work/build.log" >&2; echo "build-podman.sh: dpkg-buildpackage failed; the log is $work/build.log" >&2; exit 1; }
deb=$(ls "$work"/podman_*_amd64.deb | head -1)
dpkg-deb -x "$deb" "$work/root"
cp "$work/root/usr/bin/podman" "$binary"
rm -rf "$work"
echo "$binary"
