#!/usr/bin/env bash
# Builds (once, then cached) the VM's initramfs for kernel $1: busybox-static, the init script
# and the modules it loads, signatures and debug info stripped (halves module load under TCG).
# Prints the cached file's path.
set -euo pipefail
version=$1
here=$(cd "$(dirname "$0")" && pwd)
modules=(virtio_pci 9pnet_virtio 9p virtio_blk dm-thin-pool loop ext4 xfs overlay)
cache=${KBS_VM_CACHE:-/var/cache/kata-block/vm}
key=$( (echo "$version"; cat "$here/init.sh" "$0"; printf '%s\n' "${modules[@]}") | sha256sum | cut -c1-16)
out="$cache/initramfs-$version-$key.cpio"
if [ -f "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,newroot,modules}
cp /bin/busybox "$work/bin/busybox"
cp "$here/init.sh" "$work/init"
chmod 755 "$work/init"
for module in "${modules[@]}"; do
    modprobe -S "$version" --show-depends "$module" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r path; do
    name=$(basename "$path")
    case "$path" in
        *.xz) xz -dc "$path" > "$work/modules/${name%.xz}"; name=${name%.xz} ;;
        *.zst) zstd -qdc "$path" > "$work/modules/${name%.zst}"; name=${name%.zst} ;;
        *) cp "$path" "$work/modules/$name" ;;
    esac
    strip --strip-debug "$work/modules/$name"
    echo "$name" >> "$work/modules.order"
done
(cd "$work" && find . | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
