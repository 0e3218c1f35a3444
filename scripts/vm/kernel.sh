#!/usr/bin/env bash
# Prints the newest installed kernel version that has a bootable image and dm-thin-pool.
set -euo pipefail
for image in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -rV); do
    version=${image#/boot/vmlinuz-}
    if [ -f "/lib/modules/$version/kernel/drivers/md/dm-thin-pool.ko" ] || ls "/lib/modules/$version/kernel/drivers/md/dm-thin-pool.ko"* >/dev/null 2>&1; then
        echo "$version"; exit 0
    fi
done
echo "vm: no kernel with dm-thin-pool under /boot; run scripts/vm/install.sh" >&2
exit 1
