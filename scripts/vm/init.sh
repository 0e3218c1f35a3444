#!/bin/busybox sh
# PID 1 of the test VM: load the modules, mount the host root read-only over 9p with the
# repository and scratch directory writable on top, run the job in a chroot, report its exit code.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
for module in $(cat /modules.order); do
    insmod "/modules/$module" 2>/dev/null || echo "vm: could not load $module" >&2
done
root=/newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot $root || {
    echo "vm: cannot mount the host root over 9p" >&2; poweroff -f; }
mount -t devtmpfs dev $root/dev
mkdir -p $root/dev/pts $root/dev/shm 2>/dev/null
mount -t devpts devpts $root/dev/pts
mount -t tmpfs shm $root/dev/shm
mount -t proc proc $root/proc
mount -t sysfs sys $root/sys
mount -t cgroup2 cgroup2 $root/sys/fs/cgroup 2>/dev/null
mount -t tmpfs -o mode=1777 tmp $root/tmp
mount -t tmpfs -o mode=755 run $root/run
for tag in repo scratch; do
    dir=$(cat /share-$tag)
    # A share under the guest's own /tmp or /run needs its mount point made there first.
    [ -n "$dir" ] && mkdir -p "$root$dir" 2>/dev/null
    [ -n "$dir" ] && mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=262144 $tag "$root$dir"
done
# /etc/mtab and friends come from the host; the guest's own mount table is /proc/self/mounts.
scratch=$(cat /share-scratch)
# The job is written with bash's printf %q (which quotes newlines as $'...'): bash runs it.
chroot $root /bin/bash "$scratch/.vm-job.sh" </dev/console >/dev/console 2>&1
echo $? > "$root$scratch/.vm-exit-code"
sync
umount "$root$scratch" 2>/dev/null
poweroff -f
