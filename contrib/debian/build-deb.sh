#!/usr/bin/env bash
# Builds the kata-block Debian package from this checkout: snapctl (release, the Swift runtime
# linked in), the containers/storage driver library and its header, the systemd unit, the default
# config, shell completions and the containerd / CRI-O / Kata snippets, staged and packed with
# dpkg-deb. Prints the .deb's path.   contrib/debian/build-deb.sh [OUT_DIR]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$repo/.build/deb-out}
scratch=$repo/.build/deb
version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' "$repo/Sources/StorageCore/Engine/Release.swift")
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)

echo "build-deb: building snapctl and the driver library (release)" >&2
swift build -c release --static-swift-stdlib --product snapctl --scratch-path "$scratch" --package-path "$repo" >&2
swift build -c release --product kata-block-driver --scratch-path "$scratch" --package-path "$repo" >&2
bin=$(swift build -c release --scratch-path "$scratch" --package-path "$repo" --show-bin-path)

stage=$(mktemp -d /tmp/kata-block-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 "$bin/snapctl" "$stage/usr/bin/snapctl"
strip --strip-unneeded "$stage/usr/bin/snapctl"
install -D -m 0644 "$bin/libkata-block-driver.so" "$stage/usr/lib/$multiarch/libkata-block-driver.so"
strip --strip-unneeded "$stage/usr/lib/$multiarch/libkata-block-driver.so"
install -D -m 0644 "$repo/Sources/CKataBlockDriver/kata_block_driver.h" "$stage/usr/include/kata_block_driver.h"
install -D -m 0644 "$repo/contrib/systemd/kata-block.service" "$stage/lib/systemd/system/kata-block.service"
install -D -m 0644 "$repo/contrib/config/config.toml" "$stage/etc/kata-block/config.toml"
for f in containerd.toml kata-configuration.toml storage.conf; do
  install -D -m 0644 "$repo/contrib/config/$f" "$stage/usr/share/doc/kata-block/examples/$f"
done
install -D -m 0644 "$repo/README.md" "$stage/usr/share/doc/kata-block/README.md"
"$stage/usr/bin/snapctl" --generate-completion-script bash | install -D -m 0644 /dev/stdin "$stage/usr/share/bash-completion/completions/snapctl"
"$stage/usr/bin/snapctl" --generate-completion-script zsh | install -D -m 0644 /dev/stdin "$stage/usr/share/zsh/vendor-completions/_snapctl"
"$stage/usr/bin/snapctl" --generate-completion-script fish | install -D -m 0644 /dev/stdin "$stage/usr/share/fish/vendor_completions.d/snapctl.fish"

mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: kata-block
Version: $version
Architecture: $arch
Maintainer: Kata Block Storage <kata-block@localhost>
Section: admin
Priority: optional
Depends: libc6, libstdc++6, libgcc-s1, liblmdb0, libdevmapper1.02.1, libarchive13, e2fsprogs, xfsprogs, mount, util-linux
Recommends: containerd
Installed-Size: $(du -sk "$stage" | cut -f1)
Description: block-device snapshotter for VM-based container runtimes
 Container root filesystems as copy-on-write block devices (dm-thin, or reflinked image files on
 XFS), for Kata Containers and other VM runtimes to hand to their guests as virtio-blk:
 containerd's snapshotter (snapctl serve, a proxy plugin), a containers/storage graph driver
 library, and snapctl, the admin CLI (pools, snapshots, volumes, usage, fsck).
CONTROL
echo /etc/kata-block/config.toml > "$stage/DEBIAN/conffiles"
install -m 0755 "$repo/contrib/debian/postinst" "$repo/contrib/debian/prerm" "$repo/contrib/debian/postrm" "$stage/DEBIAN/"

mkdir -p "$out"
deb="$out/kata-block_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
