#!/bin/bash
# Boots one throw-away test guest: Debian's 6.1 kernel from the setup.sh cache, the
# host's / as its read-only root (so host-built binaries run unchanged), RESULTS
# mounted read-write at the same path, and GUEST_SCRIPT as PID 1. The guest powers
# off when the script ends; its exit status lands in RESULTS/NAME.rc.
#
# usage: boot.sh NAME IP/PREFIX GUEST_SCRIPT RESULTS_DIR [NETDEV]
#   NETDEV: qemu -netdev spec, default "user" (an isolated guest); two guests are
#   wired with "socket,udp=127.0.0.1:PEER_PORT,localaddr=127.0.0.1:MY_PORT".
# env: SHOAL_RXE_CACHE (default tests/rxe/cache), GUEST_TIMEOUT (s, default 1700),
#      GUEST_MEM (default 3G), GUEST_SMP (default 2), GUEST_ACCEL (tcg|kvm, default auto),
#      GUEST_MTU (the guest NIC's MTU; default the NIC's 1500, which gives rxe 1024)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=$1 IP=$2 SCRIPT=$3 RESULTS=$4 NETDEV=${5:-user}
CACHE=${SHOAL_RXE_CACHE:-$HERE/cache}
MAC=52:54:00:5e:00:$(printf %02x $(( $(cksum <<<"$NAME" | cut -d' ' -f1) % 250 + 2 )))

# /dev/kvm may be a paravirtual flavour (kvm_pvm) that cannot run a stock kernel;
# only hardware-backed KVM is used, everything else runs on qemu's software CPU.
ACCEL=${GUEST_ACCEL:-}
if [ -z "$ACCEL" ]; then
    if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
        ACCEL=kvm
    else
        ACCEL=tcg
    fi
fi
case $ACCEL in
    kvm) accel=(-accel kvm -cpu host) ;;
    tcg) accel=(-accel tcg,thread=multi,tb-size=256 -cpu max) ;;
    *) echo "boot.sh: GUEST_ACCEL=$ACCEL is neither tcg nor kvm" >&2; exit 2 ;;
esac

exec timeout --kill-after=10 "${GUEST_TIMEOUT:-1700}" \
  qemu-system-x86_64 -name "$NAME" -machine q35 "${accel[@]}" \
    -m "${GUEST_MEM:-3G}" -smp "${GUEST_SMP:-2}" \
    -nodefaults -no-user-config -display none -no-reboot -serial stdio -monitor none \
    -kernel "$CACHE/kernel/vmlinux" -initrd "$CACHE/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet loglevel=4 panic=-1 shoal_name=$NAME shoal_ip=$IP shoal_script=$SCRIPT shoal_rw=$RESULTS${GUEST_MTU:+ shoal_mtu=$GUEST_MTU}" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs local,path="$RESULTS",mount_tag=results,security_model=none,multidevs=remap \
    -netdev "$NETDEV,id=n0" -device virtio-net-pci,netdev=n0,mac="$MAC" \
    -device virtio-rng-pci </dev/null
