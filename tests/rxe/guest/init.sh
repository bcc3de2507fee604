#!/bin/busybox sh
# Stage-1 init of the test guest (packed into the initramfs by setup.sh). Loads the
# virtio, 9p, overlay and Soft-RoCE modules, mounts the host's / read-only over 9p
# under a throw-away tmpfs overlay (so host-built binaries run unchanged), mounts the
# run's results directory read-write at its host path, then hands PID 1 to the
# guest script named on the kernel command line.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do
    insmod "/mods/$m" || echo "init: insmod $m failed"
done
arg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline; }
SCRIPT=$(arg shoal_script)
RW=$(arg shoal_rw)
die() { echo "init: $*"; echo "SHOAL_GUEST_EXIT=99"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower ||
    die "cannot mount the host root over 9p"
mount -t tmpfs -o size=1g tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot ||
    die "cannot mount the overlay root"
if [ -n "$RW" ]; then
    mkdir -p "/newroot$RW"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results "/newroot$RW" ||
        die "cannot mount the results share"
fi
for d in proc sys dev; do mount --move "/$d" "/newroot/$d"; done
[ -n "$SCRIPT" ] || exec switch_root /newroot /bin/bash -i
exec switch_root /newroot /bin/bash "$SCRIPT"
