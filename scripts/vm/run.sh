#!/usr/bin/env bash
# Runs a command inside a qemu (TCG) VM on Debian's kernel, which has device-mapper (this host's
# kernel does not). The host root is shared read-only over virtio-9p, so binaries built here run
# there unchanged; the repository and a scratch directory are writable; /dev, /proc, /sys, /tmp
# and /run are the guest's own. The command's output streams back; its exit code is returned.
#
#   scripts/vm/run.sh [--timeout SECONDS] [--memory MiB] [--scratch DIR] [--disk PATH]... [--share TAG=DIR]... -- COMMAND [ARG...]
#
# Each --disk (a block device or an image file) is attached as a virtio-blk disk, as a VM runtime
# (Kata) hot-plugs a container's block-device rootfs: the first is /dev/vda in the guest, the
# next /dev/vdb, and so on. Each --share exports a host directory over virtio-9p under TAG, for
# the job to mount (`mount -t 9p -o trans=virtio,... TAG DIR`), as Kata shares a rootfs directory.
#
# Environment variables named KBS_* and GOFLAGS/GOCACHE/HOME/PATH pass into the VM.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
timeout=900
memory=6144
scratch=""
disks=()
shares=()
while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) timeout=$2; shift 2 ;;
        --memory) memory=$2; shift 2 ;;
        --scratch) scratch=$2; shift 2 ;;
        --disk) disks+=(-drive "file=$2,format=raw,if=virtio,cache=none,aio=threads"); shift 2 ;;
        --share) shares+=(-virtfs "local,path=${2#*=},mount_tag=${2%%=*},security_model=passthrough"); shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--timeout S] [--memory MiB] [--scratch DIR] [--disk PATH]... [--share TAG=DIR]... -- COMMAND..." >&2; exit 2; }

"$here/install.sh"
kernel_version=$("$here/kernel.sh")
initramfs=$("$here/initramfs.sh" "$kernel_version")

own_scratch=""
if [ -z "$scratch" ]; then
    scratch=$(mktemp -d /var/tmp/kbs-vm.XXXXXX)
    own_scratch=$scratch
fi
scratch=$(cd "$scratch" && pwd)
cleanup() { [ -n "$own_scratch" ] && rm -rf "$own_scratch"; return 0; }
trap cleanup EXIT

# The job: the caller's working directory and selected environment, then the command.
job="$scratch/.vm-job.sh"
{
    echo "export PATH='$PATH'"
    echo "export HOME='${HOME:-/root}'"
    echo "export DM_DISABLE_UDEV=1 KBS_IN_VM=1 LANG=C.UTF-8"
    { env | grep -E '^(KBS_[A-Z0-9_]*|GOFLAGS|GOCACHE|GOPATH|GO111MODULE)=' || true; } | while IFS='=' read -r name value; do
        printf 'export %s=%q\n' "$name" "$value"
    done
    printf 'cd %q || exit 125\n' "$PWD"
    printf '%q ' "$@"
    echo
} > "$job"
rm -f "$scratch/.vm-exit-code"

# The share paths are baked into a tiny second initramfs appended to the cached one.
extra=$(mktemp -d)
printf '%s' "$repo" > "$extra/share-repo"
printf '%s' "$scratch" > "$extra/share-scratch"
(cd "$extra" && printf 'share-repo\nshare-scratch\n' | cpio -o -H newc --quiet) > "$scratch/.vm-shares.cpio"
rm -rf "$extra"
cat "$initramfs" "$scratch/.vm-shares.cpio" > "$scratch/.vm-initramfs"

set +e
timeout --foreground -k 10 "$timeout" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp 2 -m "$memory" \
    -bios /usr/share/qemu/qboot.rom -nographic -no-reboot -nic none -monitor none -serial stdio \
    -kernel "/boot/vmlinuz-$kernel_version" -initrd "$scratch/.vm-initramfs" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
    -virtfs "local,path=$repo,mount_tag=repo,security_model=passthrough" \
    -virtfs "local,path=$scratch,mount_tag=scratch,security_model=passthrough" \
    "${disks[@]}" "${shares[@]}" \
    < /dev/null | stdbuf -oL tr -d '\r' | grep --line-buffered -av -e '^\[ *[0-9.]*\] reboot: ' -e $'\e\\['
status=${PIPESTATUS[0]}
set -e
if [ "$status" = 124 ]; then
    echo "vm: the job did not finish in $timeout s; the VM was stopped" >&2
    exit 124
fi
if [ ! -f "$scratch/.vm-exit-code" ]; then
    echo "vm: the VM stopped without reporting an exit code (qemu exit $status)" >&2
    exit 125
fi
exit "$(cat "$scratch/.vm-exit-code")"
