#!/usr/bin/env bash
# New machine, one command: install what is needed, build, and run the main job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run.sh needs root (loop devices, mkfs, mount)" >&2; exit 1; }
scripts/install-deps.sh
modprobe loop 2>/dev/null || true
swift build -c release --product snapctl
swift build -c release --product kata-block-driver
echo "== 1. the engine alone: a pool, a 3-layer chain through real mounts, shared extents"
scripts/demo.sh .build/release/snapctl
echo
echo "== 2. containerd: snapctl serve as a proxy snapshotter, an image unpacked onto block devices, a container run"
Tests/containerd/run-containerd.sh .build/release/snapctl
echo
echo "== 3. podman (Debian's, rebuilt with the kata-block driver): the same image loaded and run from one of our block devices"
Tests/containers-storage/run-podman.sh .build/release
echo
echo "== 4. the Kata path: a snapshot prepared through containerd, its block device handed to a VM guest as a virtio-blk disk, the image's process run there"
Tests/kata/run-guest.sh .build/release/snapctl
echo
echo "== 5. volumes for Kata: a thin volume handed to a guest through Kata's direct-volume description, grown, copied"
Tests/kata/run-volume.sh .build/release/snapctl
