#!/usr/bin/env bash
# The Debian package on a clean Debian 12 root: build the .deb (contrib/debian/build-deb.sh),
# install it with dpkg in a fresh debootstrap root (chroot; containerd and runc from Debian in
# it), start the daemon from the unit's ExecStart line and Environment, point containerd at it
# with the packaged snippet, import and run an image, then remove the package (only the conffile
# and the state directory stay) and purge it (nothing of ours stays: files, mounts, loop devices).
# Root, with debootstrap and Debian's mirror; the root is cached in /var/cache/kata-block-tests.
#   Tests/package/run-package.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/kbs-pkg.XXXXXX)
root=$work/root
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
cleanup() {
  set +e
  [ -n "${ctr_pid:-}" ] && kill "$ctr_pid" 2>/dev/null && wait "$ctr_pid" 2>/dev/null
  [ -n "${kbs_pid:-}" ] && kill -TERM "$kbs_pid" 2>/dev/null && wait "$kbs_pid" 2>/dev/null
  for m in $(awk -v r="$root/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount "$m" 2>/dev/null || umount -l "$m"; done
  losetup -nO NAME,BACK-FILE | awk -v r="$root/" 'index($2, r) == 1 {print $1}' | while read -r l; do losetup -d "$l"; done
  for m in $(awk -v r="$root" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

command -v debootstrap >/dev/null || { echo "run-package: installing debootstrap" >&2; apt-get install -y -q debootstrap >/dev/null; }
deb=$("$repo/contrib/debian/build-deb.sh" "$work/out") || { echo "FAIL - the package builds"; exit 1; }
ok "the package builds: $(basename "$deb"), $(du -h "$deb" | cut -f1)"
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Recommends\):/     | &/p'

# A clean Debian 12 root with what the package depends on and containerd; made once, then cached.
packages="containerd,runc,liblmdb0,libdevmapper1.02.1,libarchive13,xfsprogs,e2fsprogs,ca-certificates"
cache=/var/cache/kata-block-tests/bookworm-$(echo "$packages" | md5sum | cut -c1-12).tar
if [ ! -f "$cache" ]; then
  echo "run-package: debootstrap of a clean Debian 12 root (about a minute, once)" >&2
  mkdir -p "$(dirname "$cache")" "$work/fresh"
  debootstrap --variant=minbase --include="$packages" bookworm "$work/fresh" http://deb.debian.org/debian > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; echo "FAIL - debootstrap"; exit 1; }
  tar -C "$work/fresh" -cf "$cache.new" . && mv "$cache.new" "$cache"
  rm -rf "$work/fresh"
fi
mkdir -p "$root" && tar -C "$root" -xf "$cache"
# The root a mount of its own (runc makes / a slave mount and pivots out of it), then the
# kernel's filesystems and the host's devices (loop devices) in it.
mount --bind "$root" "$root" && mount --make-private "$root"
mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mount -t tmpfs tmpfs "$root/run"
check "the root is clean: no kata-block in it" test ! -e "$root/usr/bin/snapctl" -a ! -e "$root/etc/kata-block"

# Install.
cp "$deb" "$root/tmp/kata-block.deb"
check "dpkg -i installs it (its dependencies are Debian's)" in_root dpkg -i /tmp/kata-block.deb
for f in /usr/bin/snapctl /lib/systemd/system/kata-block.service /etc/kata-block/config.toml \
         /usr/lib/x86_64-linux-gnu/libkata-block-driver.so /usr/include/kata_block_driver.h \
         /usr/share/bash-completion/completions/snapctl /usr/share/doc/kata-block/examples/containerd.toml; do
  check "installed: $f" test -e "$root$f"
done
check "snapctl --version answers the package's version" test "$(in_root snapctl --version)" = "$(dpkg-deb -f "$deb" Version)"
check "bash completion knows the subcommands" grep -q "pool" "$root/usr/share/bash-completion/completions/snapctl"

# The daemon as systemd would start it: the unit's ExecStart and Environment lines.
unit=$root/lib/systemd/system/kata-block.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
environment=$(sed -n 's/^Environment=//p' "$unit" | tr '\n' ' ')
check "the unit starts snapctl serve with the packaged config" test "$exec_start" = "/usr/bin/snapctl serve --config /etc/kata-block/config.toml"
# shellcheck disable=SC2086
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $environment $exec_start > "$work/kbs.log" 2>&1 &
kbs_pid=$!
for _ in $(seq 600); do [ -S "$root/run/kata-block/snapshotter.sock" ] && break; sleep 0.1; done
check "the daemon listens on the packaged socket path" test -S "$root/run/kata-block/snapshotter.sock"

# containerd, configured with the packaged snippet, imports and runs an image through it.
mkdir -p "$root/etc/containerd"
# (without its CRI part: this test has no CRI client, and the plugin is turned off)
{ echo 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
  sed '/^\[plugins."io.containerd.grpc.v1.cri"/,$d' "$root/usr/share/doc/kata-block/examples/containerd.toml"; } > "$root/etc/containerd/config.toml"
in_root containerd > "$work/containerd.log" 2>&1 &
ctr_pid=$!
for _ in $(seq 300); do [ -S "$root/run/containerd/containerd.sock" ] && break; sleep 0.1; done
python3 "$repo/Tests/containerd/make-image.py" "$root/tmp/image.tar" kbs.local/pkg:latest
check "ctr image import through kata-block" in_root ctr image import --snapshotter kata-block /tmp/image.tar
out=$(in_root ctr run --rm --snapshotter kata-block kbs.local/pkg:latest pkg-1 /bin/cat /top.txt 2>&1)
check "a container runs on a kata-block device (got: $out)" grep -q "hello from the top layer" <<<"$out"
check "the pool is in the packaged state directory" test -d "$root/var/lib/kata-block/pool"
check "ctr image rm" in_root ctr image rm --sync kbs.local/pkg:latest
kill "$ctr_pid"; wait "$ctr_pid" 2>/dev/null; ctr_pid=
kill -TERM "$kbs_pid"; wait "$kbs_pid"; rc=$?; kbs_pid=
check "the daemon exits 0 on SIGTERM" test "$rc" -eq 0

# Remove: the conffile and the state directory stay; purge: nothing of ours.
check "dpkg -r removes it" in_root dpkg -r kata-block
for f in /usr/bin/snapctl /lib/systemd/system/kata-block.service /usr/lib/x86_64-linux-gnu/libkata-block-driver.so \
         /usr/include/kata_block_driver.h /usr/share/bash-completion/completions/snapctl /usr/share/doc/kata-block; do
  check "removed: $f" test ! -e "$root$f"
done
check "remove keeps the config (a conffile) and the pool" test -f "$root/etc/kata-block/config.toml" -a -d "$root/var/lib/kata-block/pool"
check "dpkg -P purges it" in_root dpkg -P kata-block
check "purge removes the config and the state directory" test ! -e "$root/etc/kata-block" -a ! -e "$root/var/lib/kata-block"
check "no mount of ours is left" sh -c "! grep -q ' $root/var/lib/kata-block' /proc/self/mountinfo"
check "no loop device of ours is left" sh -c "! losetup -nO BACK-FILE | grep -q '^$root/var/lib/kata-block'"
check "dpkg knows nothing of it" sh -c "! chroot '$root' dpkg -s kata-block >/dev/null 2>&1"
if [ "$failed" -gt 0 ]; then echo "--- daemon log"; tail -20 "$work/kbs.log"; echo "--- containerd log"; tail -10 "$work/containerd.log"; fi
echo "Debian package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
