#!/bin/bash
# One-time host setup for the Soft-RoCE guest tests (run as root, before configuring):
# installs qemu and the guest userspace tools from Debian, then builds the guest kernel
# cache: Debian's stock kernel package is downloaded and unpacked (never installed, so
# the host's /boot, udev and systemd are untouched), its modules indexed, an ELF vmlinux
# extracted for qemu's fast PVH boot, and a busybox initramfs built. Idempotent: a
# second run with everything in place only checks and returns.
#
# usage: tests/rxe/setup.sh [CACHE_DIR]     (default: tests/rxe/cache, git-ignored)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${1:-${SHOAL_RXE_CACHE:-$HERE/cache}}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

# ---- 1. host packages (only the missing ones; apt-get update only when needed)
# qemu + busybox boot the guest; kmod/cpio/xz build its initramfs; iproute2 has `rdma`
# (rxe link add); ibverbs-providers holds the rxe userspace driver; perftest and
# ibverbs-utils are the reference tools run next to shoal in the guest.
need_cmds="qemu-system-x86_64:qemu-system-x86 busybox:busybox-static modprobe:kmod depmod:kmod
cpio:cpio xz:xz-utils rdma:iproute2 ibv_devinfo:ibverbs-utils ib_write_bw:perftest"
missing=()
while read -r pair; do
    for p in $pair; do
        command -v "${p%%:*}" >/dev/null 2>&1 || [ -x "/sbin/${p%%:*}" ] || missing+=("${p##*:}")
    done
done <<<"$need_cmds"
[ -e /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so ] || \
    ls /usr/lib/*/libibverbs/librxe-rdmav*.so >/dev/null 2>&1 || missing+=(ibverbs-providers)
if [ ${#missing[@]} -gt 0 ]; then
    pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    echo "setup: installing $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends $pkgs
    }
fi

# ---- 2. guest kernel: Debian's current 6.1 image, unpacked into the cache
KDIR=$CACHE/kernel
if [ ! -d "$KDIR/lib/modules" ]; then
    KPKG=${KPKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
                   awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
    if [ -z "$KPKG" ]; then
        apt-get update >/dev/null
        KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    fi
    [ -n "$KPKG" ] || { echo "setup: cannot resolve linux-image-amd64" >&2; exit 1; }
    mkdir -p "$CACHE/debs"
    (cd "$CACHE/debs" && ls ${KPKG}_*.deb >/dev/null 2>&1 || apt-get download "$KPKG")
    rm -rf "$KDIR.tmp"
    dpkg-deb -x "$CACHE"/debs/${KPKG}_*.deb "$KDIR.tmp"
    mv "$KDIR.tmp" "$KDIR"
fi
KVER=$(ls "$KDIR/lib/modules" | head -n1)
# The package's postinst would run depmod; we never install it, so index here.
[ -s "$KDIR/lib/modules/$KVER/modules.dep" ] || depmod -b "$KDIR" "$KVER"
# qemu can enter an uncompressed ELF kernel at its PVH note, skipping the BIOS and
# the xz decompressor: seconds saved per boot under software emulation.
if [ ! -s "$KDIR/vmlinux" ]; then
    off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$KDIR/boot/vmlinuz-$KVER" | head -n1 | cut -d: -f1)
    # xz stops at the end of the first stream and tail then dies of SIGPIPE: judge the result
    { tail -c +$((off + 1)) "$KDIR/boot/vmlinuz-$KVER" | xz -dc --single-stream > "$KDIR/vmlinux.tmp"; } 2>/dev/null || true
    [ "$(head -c 4 "$KDIR/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
        { echo "setup: could not extract an ELF vmlinux from vmlinuz-$KVER" >&2; exit 1; }
    mv "$KDIR/vmlinux.tmp" "$KDIR/vmlinux"
fi

# ---- 3. initramfs: busybox, the virtio/9p/overlay/rxe modules, and stage-1 init
INITRD=$CACHE/initramfs.cpio.gz
if [ ! -s "$INITRD" ] || [ "$HERE/guest/init.sh" -nt "$INITRD" ] || [ "$0" -nt "$INITRD" ]; then
    STAGE=$(mktemp -d)
    trap 'rm -rf "$STAGE"' EXIT
    mkdir -p "$STAGE"/{bin,dev,proc,sys,newroot,lower,upper,mods}
    cp "$(command -v busybox)" "$STAGE/bin/busybox"
    # rdma_rxe needs a crc32 provider that modprobe's dependency walk does not name.
    mods="virtio_pci virtio_net 9pnet_virtio 9p overlay crc32_generic ib_core ib_uverbs rdma_rxe"
    modprobe -d "$KDIR" -S "$KVER" --show-depends -a $mods |
        awk '$1=="insmod"{print $2}' | awk '!seen[$0]++' > "$STAGE/mods/paths"
    while read -r ko; do cp "$ko" "$STAGE/mods/"; basename "$ko"; done < "$STAGE/mods/paths" > "$STAGE/mods/order"
    rm "$STAGE/mods/paths"
    cp "$HERE/guest/init.sh" "$STAGE/init"
    chmod +x "$STAGE/init"
    (cd "$STAGE" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    echo "setup: built $INITRD ($(wc -l < "$STAGE/mods/order") modules, kernel $KVER)"
fi
echo "setup: ready (cache $CACHE, kernel $KVER)"
