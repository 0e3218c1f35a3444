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
  # podman and skopeo: Debian's own (the overlay/vfs peers, and their configuration), and the
  # tools to rebuild them from source with our driver (contrib/podman/build-podman.sh)
  podman skopeo dpkg-dev quilt
  # the gRPC server's interop and hostile-input tests: Python's grpcio client (messages from
  # protoc's Python output) and h2 for hand-made HTTP/2 frames
  python3-grpcio python3-protobuf python3-h2 protobuf-compiler libprotobuf-dev
  # the Debian package and its test on a clean Debian 12 root (contrib/debian, Tests/package)
  debootstrap binutils
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
elif [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
else
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ "$(id -u)" -eq 0 ] || exit 0

# podman's source package and its build dependencies: a deb-src entry for Debian's archive (the
# same mirror the system uses), then `apt-get build-dep libpod` when anything is missing.
src_list=/etc/apt/sources.list.d/kata-block-src.sources
if [ ! -f "$src_list" ]; then
  cat > "$src_list" <<'SOURCES'
# Added by Kata Block Storage's scripts/install-deps.sh: podman's source package, rebuilt with
# the kata-block containers/storage driver (contrib/podman/build-podman.sh).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  apt-get update -qq
fi
if apt-get build-dep -s libpod 2>/dev/null | grep -q '^Inst ' || ! apt-get build-dep -s libpod >/dev/null 2>&1; then
  echo "install-deps: installing podman's build dependencies"
  apt-get build-dep -y -qq libpod
fi
