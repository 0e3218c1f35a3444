#!/usr/bin/env bash
# Installs every Debian package that building, running and testing Kata Block Storage need.
# Idempotent: packages already present are left alone. Run as root on Debian 12.
set -euo pipefail

packages=(
  # C libraries the engine links (system-library targets CLMDB, CDeviceMapper, CArchive)
  liblmdb-dev libdevmapper-dev libarchive-dev pkg-config
  # real filesystems and block tools used by the file backend and its tests
  e2fsprogs xfsprogs util-linux mount
  # containerd evidence: real containerd + runc, containerd's Go sources and test suite (GOPATH mode),
  # and busybox for the test image
  containerd runc golang-go golang-github-containerd-containerd-dev busybox-static python3
  # the dm-thin stage: a qemu VM on Debian's kernel (it has device-mapper; this host's may not),
  # thin_ls/thin_delta for exact usage, dmsetup for the tests' independent look at the pool
  qemu-system-x86 linux-image-amd64 thin-provisioning-tools dmsetup cpio
  # the containers/storage frontend: the Go library and its driver suite (GOPATH mode);
  # ulikunitz-xz is a dependency of pkg/archive that the -dev package does not name
  golang-github-containers-storage-dev golang-github-ulikunitz-xz-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
