#!/usr/bin/env bash
# Installs what the test VM needs: qemu, Debian's kernel (for its device-mapper modules),
# busybox-static for the initramfs, thin-provisioning-tools for thin_ls usage.
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
[ -x /bin/busybox ] && busybox --list 2>/dev/null | grep -qx insmod || need+=(busybox-static)
command -v thin_ls >/dev/null || need+=(thin-provisioning-tools)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
    echo "vm: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
